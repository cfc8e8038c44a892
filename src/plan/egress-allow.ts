// [network] allow entries → AllowEntry: what a sandbox may reach, one destination and port each.
// Pure. Literal addresses are normalized here; host names are resolved by the daemon when a call
// starts (linux/resolve-hosts) and then become addresses like any other entry.
import { isIPv4, isIPv6 } from 'node:net';

export type Proto = 'tcp' | 'udp';
export type Family = 4 | 6;

/** An address block: a single address is a block with the full prefix (/32, /128). */
export interface AddressBlock {
  readonly family: Family;
  /** Canonical text of the network address (host bits zero). */
  readonly address: string;
  readonly prefix: number;
}

export type AllowTarget = ({ readonly kind: 'block' } & AddressBlock) | { readonly kind: 'host'; readonly name: string };

export interface AllowEntry {
  /** As the admin wrote it (for messages and the audit trail). */
  readonly text: string;
  readonly target: AllowTarget;
  readonly port: number;
  readonly proto: Proto;
}

/** Blocks this wide are "anywhere"-style entries: accepted only with allow_any = true. */
export const WIDE_PREFIX: Record<Family, number> = { 4: 8, 6: 16 };

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export class AllowEntryError extends Error {}

/** `IP:PORT`, `CIDR:PORT`, `HOST:PORT`, IPv6 in brackets (`[2001:db8::/32]:443`), then `/tcp` or `/udp`. */
export function parseAllowEntry(text: string): AllowEntry {
  const bad = (why: string) => new AllowEntryError(`${JSON.stringify(text)}: ${why}`);
  let rest = text.trim();
  let proto: Proto = 'tcp';
  const protoMatch = /\/(tcp|udp)$/i.exec(rest);
  if (protoMatch) {
    proto = protoMatch[1]!.toLowerCase() as Proto;
    rest = rest.slice(0, -protoMatch[0].length);
  } else if (/\/[a-z]+$/i.test(rest)) {
    throw bad('the protocol must be /tcp or /udp');
  }
  let dest: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(rest);
  if (bracketed) {
    [, dest = '', portText = ''] = bracketed;
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw bad('expected DESTINATION:PORT, e.g. "198.51.100.7:443", "10.0.0.0/8:5432/tcp" or "pypi.org:443"');
    dest = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (dest.includes(':')) throw bad('an IPv6 destination goes in brackets: "[2001:db8::1]:443"');
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad(`port ${JSON.stringify(portText)}: expected a number from 1 to 65535`);
  const port = Number(portText);
  const slash = dest.indexOf('/');
  const addr = slash < 0 ? dest : dest.slice(0, slash);
  if (isIPv4(addr) || isIPv6(addr)) {
    if (bracketed && isIPv4(addr)) throw bad('brackets are for IPv6 destinations');
    if (!bracketed && isIPv6(addr)) throw bad('an IPv6 destination goes in brackets');
    try {
      return { text, target: { kind: 'block', ...parseBlock(dest) }, port, proto };
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  if (slash >= 0 || bracketed) throw bad(`${JSON.stringify(dest)} is not an IP address or block`);
  if (!HOST_NAME.test(dest) || /^[\d.]+$/.test(dest)) throw bad(`${JSON.stringify(dest)} is not an IP address, an address block or a host name`);
  return { text, target: { kind: 'host', name: dest.toLowerCase().replace(/\.$/, '') }, port, proto };
}

/** "ADDRESS" or "ADDRESS/PREFIX", IPv4 or IPv6, with no host bits set. */
export function parseBlock(text: string): AddressBlock {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family: Family | undefined = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (family === undefined) throw new AllowEntryError(`${JSON.stringify(addr)} is not an IP address`);
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw new AllowEntryError(`prefix /${prefixText}: expected 0 to ${max}`);
  const prefix = Number(prefixText);
  const value = toBigInt(addr, family);
  const network = value & prefixMask(family, prefix);
  if (network !== value) throw new AllowEntryError(`${addr}/${prefix} has host bits set; the block is ${fromBigInt(network, family)}/${prefix}`);
  return { family, address: fromBigInt(network, family), prefix };
}

/** RFC 6052's well-known NAT64 prefix: where a NAT64 gateway serves it, 64:ff9b::/96 is all of IPv4. */
const NAT64 = { address: '64:ff9b::', prefix: 96 } as const;

/** Why a target counts as "anywhere" (an allow_any entry), or undefined when it does not. */
export function wideReason(target: AllowTarget): string | undefined {
  if (target.kind !== 'block') return undefined;
  if (target.prefix < WIDE_PREFIX[target.family]) return `opens a block wider than /${WIDE_PREFIX[target.family]}`;
  if (target.family !== 6) return undefined;
  // The block holds the NAT64 prefix, or lies in it and spans more than a /8 of the IPv4 behind it.
  const shared = Math.min(target.prefix, NAT64.prefix);
  const inNat64 = toBigInt(target.address, 6) >> BigInt(128 - shared) === toBigInt(NAT64.address, 6) >> BigInt(128 - shared);
  if (inNat64 && target.prefix - NAT64.prefix < WIDE_PREFIX[4]) return `reaches a block of IPv4 wider than /${WIDE_PREFIX[4]} through the NAT64 prefix ${NAT64.address}/${NAT64.prefix}`;
  return undefined;
}

export function isWide(target: AllowTarget): boolean {
  return wideReason(target) !== undefined;
}

// Address arithmetic, for normalizing blocks and for the address pool.

export function toBigInt(address: string, family: Family): bigint {
  if (family === 4) return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  let text = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const n = toBigInt(v4tail[1]!, 4);
    text = `${text.slice(0, -v4tail[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail === undefined ? [] : tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headParts.length - tailParts.length;
  return [...headParts, ...Array<string>(zeros).fill('0'), ...tailParts].reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n);
}

export function fromBigInt(value: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  return ipv6Text(Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)));
}

/** An IPv6 address's eight groups (lowercase hex, no leading zeros) as RFC 5952 writes it. */
export function ipv6Text(groups: readonly string[]): string {
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

export function prefixMask(family: Family, prefix: number): bigint {
  const bits = family === 4 ? 32 : 128;
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

/** Whether two blocks of the same family share any address. */
export function overlaps(a: AddressBlock, b: AddressBlock): boolean {
  if (a.family !== b.family) return false;
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = prefixMask(a.family, prefix);
  return (toBigInt(a.address, a.family) & mask) === (toBigInt(b.address, b.family) & mask);
}
