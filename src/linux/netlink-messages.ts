// What every netlink message shares (linux/netlink.h): the header, attributes, and the walk over
// the messages of one read. Pure; rtnetlink-messages and nft-set-messages build on it.

const NLM_F_REQUEST = 0x1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
/** The type bits of nla_type (NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off). */
export const NLA_TYPE_MASK = 0x3fff;

export const pad4 = (n: number) => (n + 3) & ~3;

/** One attribute (struct nlattr), padded to four bytes. */
export function attr(type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(pad4(4 + data.length));
  out.writeUInt16LE(4 + data.length, 0);
  out.writeUInt16LE(type, 2);
  data.copy(out, 4);
  return out;
}

/** struct nlmsghdr around a body, as a request; the sequence number pairs the kernel's answer with it. */
export function message(type: number, flags: number, seq: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + payload.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(NLM_F_REQUEST | flags, 6);
  header.writeUInt32LE(seq, 8);
  return Buffer.concat([header, payload]);
}

/** The messages in one read of the socket: type, sequence number and body (after the header); a truncated one ends the walk. */
export function* messages(data: Buffer): Generator<{ readonly type: number; readonly seq: number; readonly body: Buffer }> {
  for (let at = 0; at + 16 <= data.length; ) {
    const len = data.readUInt32LE(at);
    if (len < 16 || at + len > data.length) return;
    yield { type: data.readUInt16LE(at + 4), seq: data.readUInt32LE(at + 8), body: data.subarray(at + 16, at + len) };
    at += pad4(len);
  }
}
