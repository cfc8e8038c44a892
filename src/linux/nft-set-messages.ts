// The sandbox's deny counters through nfnetlink: the request that dumps a set's elements, and
// the elements the kernel answers, parsed into what the tool was refused. Pure: the daemon sends
// it itself (native/netlink.ts). Through libnftables a call's counters cost a context in the
// sandbox's namespace, a cache of its table and a JSON listing, on the one queue that builds and
// tears down every sandbox's firewall, so the call waited behind them. Layouts from
// linux/netlink.h, linux/netfilter/nfnetlink.h and linux/netfilter/nf_tables.h.
import { ipv6Text, type Family } from '../plan/egress-allow.js';
import type { DeniedEgress } from '../invocation/tool-result.js';
import { attr, message, messages, NLA_TYPE_MASK, NLMSG_DONE, NLMSG_ERROR, pad4 } from './netlink-messages.js';

const NLM_F_DUMP = 0x300;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_GETSETELEM = 13;
const NFPROTO_INET = 1;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_EXPR = 7;
const NFTA_DATA_VALUE = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_COUNTER_PACKETS = 2;

/** The deny sets of the sandbox's firewall (plan/network-plan), and how their keys are laid out. */
export const DENY_SETS: Readonly<Record<string, { readonly family: Family; readonly port: boolean }>> = {
  denied4: { family: 4, port: true },
  denied6: { family: 6, port: true },
  denied4x: { family: 4, port: false },
  denied6x: { family: 6, port: false },
};

/** NFT_MSG_GETSETELEM for every element of one set of an inet table, as a dump. */
export function getSetElements(seq: number, table: string, set: string): Buffer {
  // struct nfgenmsg: the family, NFNETLINK_V0, no resource id.
  const nfgenmsg = Buffer.from([NFPROTO_INET, 0, 0, 0]);
  return message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_DUMP, seq, [nfgenmsg, attr(NFTA_SET_ELEM_LIST_TABLE, Buffer.from(`${table}\0`)), attr(NFTA_SET_ELEM_LIST_SET, Buffer.from(`${set}\0`))]);
}

/**
 * Attributes are walked by offset into the read, not as Buffer slices: a tool can fill the deny
 * sets with 16,384 elements, and the daemon reads them on its event loop.
 */
interface Span {
  readonly start: number;
  readonly end: number;
}

/** Each attribute between start and end, its type and payload, until `visit` says stop; a truncated one ends the walk. */
function walk(data: Buffer, { start, end }: Span, visit: (type: number, payload: Span) => boolean | void): void {
  for (let at = start; at + 4 <= end; ) {
    const len = data.readUInt16LE(at);
    if (len < 4 || at + len > end) return;
    if (visit(data.readUInt16LE(at + 2) & NLA_TYPE_MASK, { start: at + 4, end: at + len }) === true) return;
    at += pad4(len);
  }
}

/** The payload of the first attribute of `type` between start and end; undefined if none. */
function find(data: Buffer, span: Span, type: number): Span | undefined {
  let found: Span | undefined;
  walk(data, span, (t, payload) => {
    if (t !== type) return false;
    found = payload;
    return true;
  });
  return found;
}

const COUNTER = Buffer.from('counter\0');

/** The packets of a counter expression (NFTA_EXPR_NAME "counter"), or undefined for another expression. */
function counterPackets(data: Buffer, expr: Span): number | undefined {
  const name = find(data, expr, NFTA_EXPR_NAME);
  const stats = find(data, expr, NFTA_EXPR_DATA);
  if (!name || !stats || name.end - name.start !== COUNTER.length || data.compare(COUNTER, 0, COUNTER.length, name.start, name.end) !== 0) return undefined;
  const packets = find(data, stats, NFTA_COUNTER_PACKETS);
  // A 64-bit big-endian count, exact as a number up to 2^53.
  return packets && packets.end - packets.start === 8 ? data.readUInt32BE(packets.start) * 2 ** 32 + data.readUInt32BE(packets.start + 4) : undefined;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

/**
 * One element of a deny set, if its counter has packets. Its key: the address, then the protocol
 * in one byte and the port in two (network order), each field of a concatenation padded to four
 * bytes (the kernel's 32-bit registers). The deny sets have one expression, the counter, which the
 * kernel dumps as NFTA_SET_ELEM_EXPR (several would be NFTA_SET_ELEM_EXPRESSIONS).
 */
function denied(data: Buffer, elem: Span, layout: (typeof DENY_SETS)[string]): DeniedEgress | undefined {
  const expr = find(data, elem, NFTA_SET_ELEM_EXPR);
  const packets = expr && counterPackets(data, expr);
  const outer = packets ? find(data, elem, NFTA_SET_ELEM_KEY) : undefined;
  const key = outer && find(data, outer, NFTA_DATA_VALUE);
  const bytes = layout.family === 4 ? 4 : 16;
  if (!packets || !key || key.end - key.start !== bytes + 4 + (layout.port ? 4 : 0)) return undefined;
  const at = key.start;
  const proto = data[at + bytes]!;
  return {
    destination: layout.family === 4 ? `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}` : ipv6Text(Array.from({ length: 8 }, (_, i) => data.readUInt16BE(at + 2 * i).toString(16))),
    protocol: PROTOCOLS[proto] ?? `protocol ${proto}`,
    port: layout.port ? data.readUInt16BE(at + bytes + 4) : null,
    packets,
  };
}

export type SetDump = { readonly kind: 'error'; readonly errno: number } | { readonly kind: 'part'; readonly elements: DeniedEgress[]; readonly done: boolean };

/**
 * What one read of the socket holds of the answer to request `seq` on set `set`: refused
 * elements with packets (empty counters are left out), and whether the dump is done (NLMSG_DONE).
 */
export function parseSetDump(data: Buffer, seq: number, set: string): SetDump {
  const layout = DENY_SETS[set];
  const elements: DeniedEgress[] = [];
  let done = false;
  for (const { type, seq: of, body } of messages(data)) {
    if (of !== seq) continue;
    if (type === NLMSG_ERROR) {
      const errno = -body.readInt32LE(0);
      if (errno !== 0) return { kind: 'error', errno };
      continue;
    }
    if (type === NLMSG_DONE) {
      done = true;
      continue;
    }
    if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM) || !layout) continue;
    // After struct nfgenmsg (4 bytes): the table, the set, and the list of elements.
    const list = find(body, { start: 4, end: body.length }, NFTA_SET_ELEM_LIST_ELEMENTS);
    if (!list) continue;
    walk(body, list, (t, elem) => {
      const d = t === NFTA_LIST_ELEM ? denied(body, elem, layout) : undefined;
      if (d) elements.push(d);
    });
  }
  return { kind: 'part', elements, done };
}

/**
 * Largest first, then by destination (as code units: a tool can fill the sets with 16,384
 * elements, and localeCompare took three to six times as long to sort them).
 */
export function byPackets(a: DeniedEgress, b: DeniedEgress): number {
  return b.packets - a.packets || (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0);
}
