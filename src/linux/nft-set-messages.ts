// The sandbox's deny counters through nfnetlink: the request that dumps a set's elements, and
// the elements the kernel answers, parsed into what the tool was refused. Pure: the daemon sends
// it itself (native/netlink.ts). Through libnftables a call's counters cost a context in the
// sandbox's namespace, a cache of its table and a JSON listing, on the one queue that builds and
// tears down every sandbox's firewall, so the call waited behind them. Layouts from
// linux/netlink.h, linux/netfilter/nfnetlink.h and linux/netfilter/nf_tables.h.
import { fromBigInt, type Family } from '../plan/egress-allow.js';
import type { DeniedEgress } from '../invocation/tool-result.js';

const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
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
/** The type bits of nla_type (NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off). */
const NLA_TYPE_MASK = 0x3fff;

const pad4 = (n: number) => (n + 3) & ~3;

function attr(type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(pad4(4 + data.length));
  out.writeUInt16LE(4 + data.length, 0);
  out.writeUInt16LE(type, 2);
  data.copy(out, 4);
  return out;
}

/** The deny sets of the sandbox's firewall (plan/network-plan), and how their keys are laid out. */
export const DENY_SETS: Readonly<Record<string, { readonly family: Family; readonly port: boolean }>> = {
  denied4: { family: 4, port: true },
  denied6: { family: 6, port: true },
  denied4x: { family: 4, port: false },
  denied6x: { family: 6, port: false },
};

/** NFT_MSG_GETSETELEM for every element of one set of an inet table, as a dump. */
export function getSetElements(seq: number, table: string, set: string): Buffer {
  const nfgenmsg = Buffer.from([NFPROTO_INET, 0, 0, 0]);
  const payload = Buffer.concat([nfgenmsg, attr(NFTA_SET_ELEM_LIST_TABLE, Buffer.from(`${table}\0`)), attr(NFTA_SET_ELEM_LIST_SET, Buffer.from(`${set}\0`))]);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + payload.length, 0);
  header.writeUInt16LE((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, 4);
  header.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  header.writeUInt32LE(seq, 8);
  return Buffer.concat([header, payload]);
}

/** The attributes in `data` (a message body after its fixed header, or a nested attribute's payload). */
function* attributes(data: Buffer): Generator<[type: number, payload: Buffer]> {
  for (let at = 0; at + 4 <= data.length; ) {
    const len = data.readUInt16LE(at);
    if (len < 4 || at + len > data.length) return;
    yield [data.readUInt16LE(at + 2) & NLA_TYPE_MASK, data.subarray(at + 4, at + len)];
    at += pad4(len);
  }
}

const first = (data: Buffer, type: number) => {
  for (const [t, payload] of attributes(data)) if (t === type) return payload;
  return undefined;
};

/** The packets of a counter expression (NFTA_EXPR_NAME "counter"), or undefined for another expression. */
function counterPackets(expr: Buffer): bigint | undefined {
  const name = first(expr, NFTA_EXPR_NAME);
  const data = first(expr, NFTA_EXPR_DATA);
  if (!name || !data || name.toString('latin1').replace(/\0+$/, '') !== 'counter') return undefined;
  const packets = first(data, NFTA_COUNTER_PACKETS);
  return packets?.length === 8 ? packets.readBigUInt64BE(0) : undefined;
}

/**
 * One element: its key's bytes and its counter's packets. The deny sets have one expression, the
 * counter, which the kernel dumps as NFTA_SET_ELEM_EXPR (several would be NFTA_SET_ELEM_EXPRESSIONS).
 */
function element(elem: Buffer): { key: Buffer; packets: bigint } | undefined {
  const key = first(elem, NFTA_SET_ELEM_KEY);
  const value = key && first(key, NFTA_DATA_VALUE);
  const expr = first(elem, NFTA_SET_ELEM_EXPR);
  const packets = expr && counterPackets(expr);
  return value && packets !== undefined ? { key: value, packets } : undefined;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

/**
 * A key of a deny set: the address, then the protocol in one byte and the port in two (network
 * order), each field of a concatenation padded to four bytes (the kernel's 32-bit registers).
 */
function denied(set: string, key: Buffer, packets: bigint): DeniedEgress | undefined {
  const layout = DENY_SETS[set];
  if (!layout) return undefined;
  const bytes = layout.family === 4 ? 4 : 16;
  if (key.length !== bytes + 4 + (layout.port ? 4 : 0)) return undefined;
  const destination = fromBigInt(BigInt(`0x${key.subarray(0, bytes).toString('hex')}`), layout.family);
  const proto = key[bytes]!;
  return {
    destination,
    protocol: PROTOCOLS[proto] ?? `protocol ${proto}`,
    port: layout.port ? key.readUInt16BE(bytes + 4) : null,
    packets: Number(packets),
  };
}

export type SetDump = { readonly kind: 'error'; readonly errno: number } | { readonly kind: 'part'; readonly elements: DeniedEgress[]; readonly done: boolean };

/**
 * What one read of the socket holds of the answer to request `seq` on set `set`: refused
 * elements with packets (empty counters are left out), and whether the dump is done (NLMSG_DONE).
 */
export function parseSetDump(data: Buffer, seq: number, set: string): SetDump {
  const elements: DeniedEgress[] = [];
  let done = false;
  for (let at = 0; at + 16 <= data.length; ) {
    const len = data.readUInt32LE(at);
    if (len < 16 || at + len > data.length) break;
    const type = data.readUInt16LE(at + 4);
    const mine = data.readUInt32LE(at + 8) === seq;
    const body = data.subarray(at + 16, at + len);
    at += pad4(len);
    if (!mine) continue;
    if (type === NLMSG_ERROR) {
      const errno = -body.readInt32LE(0);
      if (errno !== 0) return { kind: 'error', errno };
      continue;
    }
    if (type === NLMSG_DONE) {
      done = true;
      continue;
    }
    if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) continue;
    // After struct nfgenmsg (4 bytes): the table, the set, and the list of elements.
    const list = first(body.subarray(4), NFTA_SET_ELEM_LIST_ELEMENTS);
    for (const [t, elem] of list ? attributes(list) : []) {
      if (t !== NFTA_LIST_ELEM) continue;
      const e = element(elem);
      const d = e && e.packets > 0n ? denied(set, e.key, e.packets) : undefined;
      if (d) elements.push(d);
    }
  }
  return { kind: 'part', elements, done };
}

/** Largest first, then by destination: the order the result and the log line show. */
export function byPackets(a: DeniedEgress, b: DeniedEgress): number {
  return b.packets - a.packets || a.destination.localeCompare(b.destination);
}
