// The sandbox's deny counters through nfnetlink: the request that dumps a set's elements, and
// the elements the kernel answers, parsed into what the tool was refused. Pure: the daemon sends
// it itself (native/netlink.ts). Through libnftables a call's counters cost a context in the
// sandbox's namespace, a cache of its table and a JSON listing, on the one queue that builds and
// tears down every sandbox's firewall, so the call waited behind them. Layouts from
// linux/netlink.h, linux/netfilter/nfnetlink.h and linux/netfilter/nf_tables.h.
import { fromBigInt, type Family } from '../plan/egress-allow.js';
import type { DeniedEgress } from '../invocation/tool-result.js';
import { attr, attributes, message, messages, NLMSG_DONE, NLMSG_ERROR } from './netlink-messages.js';

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
