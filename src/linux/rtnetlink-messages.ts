// rtnetlink requests for a sandbox's veth pair, as bytes, and what the kernel answers, parsed.
// Pure: the daemon sends them itself (native/netlink.ts) instead of spawning `ip` twice per
// sandbox (two processes, about 7 ms of each network setup). Layouts from linux/netlink.h,
// linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h and linux/veth.h.
import { toBigInt, type Family } from '../plan/egress-allow.js';
import type { InterfaceAddress } from '../plan/network-plan.js';
import { attr, message, messages, NLMSG_ERROR } from './netlink-messages.js';

const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;
const AF: Record<Family, number> = { 4: 2, 6: 10 };

const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

function addressBytes(address: string, family: Family): Buffer {
  const hex = toBigInt(address, family).toString(16).padStart(family === 4 ? 8 : 32, '0');
  return Buffer.from(hex, 'hex');
}

/** struct ifinfomsg: any family, the link's index (0: by name), flags and which flags to change. */
function ifinfomsg(index: number, up: boolean): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(up ? IFF_UP : 0, 8);
  b.writeUInt32LE(up ? IFF_UP : 0, 12);
  return b;
}

const CREATE = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

/**
 * `ip link add <hostIf> up type veth peer name <peerIf> netns <fd>`: the peer created directly in
 * the namespace `peerNetnsFd` holds (moving it there later costs tens of ms), the host end up. The
 * peer cannot come up in the same request (the kernel configures it before the pair is joined:
 * ENOTCONN); linkUp does that. EEXIST when `hostIf` is taken.
 */
export function newVethPair(seq: number, hostIf: string, peerIf: string, peerNetnsFd: number): Buffer {
  const peer = Buffer.concat([ifinfomsg(0, false), attr(IFLA_IFNAME, str(peerIf)), attr(IFLA_NET_NS_FD, u32(peerNetnsFd))]);
  const linkinfo = Buffer.concat([attr(IFLA_INFO_KIND, str('veth')), attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer))]);
  return message(RTM_NEWLINK, CREATE, seq, [ifinfomsg(0, true), attr(IFLA_IFNAME, str(hostIf)), attr(IFLA_LINKINFO, linkinfo)]);
}

/** `ip link set <index> up`. */
export function linkUp(seq: number, index: number): Buffer {
  return message(RTM_NEWLINK, NLM_F_ACK, seq, [ifinfomsg(index, true)]);
}

/** The link with index `index`: answered with it, or ENODEV once it is gone. */
export function getLinkByIndex(seq: number, index: number): Buffer {
  return message(RTM_GETLINK, 0, seq, [ifinfomsg(index, false)]);
}

/** `ip link del` by index: a veth's peer goes with it, in whatever namespace that is. */
export function deleteLink(seq: number, index: number): Buffer {
  return message(RTM_DELLINK, NLM_F_ACK, seq, [ifinfomsg(index, false)]);
}

/** `ip link show <name>`: the answer carries the link's index (linkIndex). */
export function getLink(seq: number, name: string): Buffer {
  return message(RTM_GETLINK, 0, seq, [ifinfomsg(0, false), attr(IFLA_IFNAME, str(name))]);
}

/** `ip addr add <address>/<prefix> dev <index> [nodad]`: IPv6 without duplicate detection (the link is point to point). */
export function newAddress(seq: number, index: number, a: InterfaceAddress): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(AF[a.family], 0);
  head.writeUInt8(a.prefix, 1);
  head.writeUInt8(a.family === 6 ? IFA_F_NODAD : 0, 2);
  head.writeUInt8(RT_SCOPE_UNIVERSE, 3);
  head.writeUInt32LE(index, 4);
  const bytes = addressBytes(a.address, a.family);
  return message(RTM_NEWADDR, CREATE, seq, [head, attr(IFA_LOCAL, bytes), attr(IFA_ADDRESS, bytes)]);
}

/** `ip route add default via <gateway> dev <index>`, in the main table. */
export function newDefaultRoute(seq: number, index: number, family: Family, gateway: string): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt8(AF[family], 0);
  head.writeUInt8(RT_TABLE_MAIN, 4);
  head.writeUInt8(RTPROT_BOOT, 5);
  head.writeUInt8(RT_SCOPE_UNIVERSE, 6);
  head.writeUInt8(RTN_UNICAST, 7);
  return message(RTM_NEWROUTE, CREATE, seq, [head, attr(RTA_GATEWAY, addressBytes(gateway, family)), attr(RTA_OIF, u32(index))]);
}

export type Answer = { readonly kind: 'ack' } | { readonly kind: 'error'; readonly errno: number } | { readonly kind: 'link'; readonly index: number };

/** The kernel's answer to the request `seq` among the messages in `data`; undefined if it is not there. */
export function answerTo(data: Buffer, seq: number): Answer | undefined {
  for (const m of messages(data)) {
    if (m.seq !== seq) continue;
    if (m.type === NLMSG_ERROR) {
      const error = m.body.readInt32LE(0);
      return error === 0 ? { kind: 'ack' } : { kind: 'error', errno: -error };
    }
    // struct ifinfomsg: family, pad, type, then the index.
    if (m.type === RTM_NEWLINK) return { kind: 'link', index: m.body.readInt32LE(4) };
  }
  return undefined;
}
