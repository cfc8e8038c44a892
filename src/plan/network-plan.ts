// The network of one sandbox with an allowlist: its veth pair (names, addresses, routes) and its
// two firewalls as text for `nft -f`. Pure: the same allowlist, addresses and slot give the same
// plan byte for byte (golden-tested).
//
// Two walls, both owned by root and out of the tool's reach (it has no capability in any user
// namespace that owns these network namespaces):
//   inside the sandbox's namespace, output policy drop: lo, replies, exactly the allowlist;
//     everything else is counted per destination and rejected at once (the tool sees an error
//     instead of hanging until its timeout);
//   on the host, a table per invocation: what arrives from the sandbox's veth is forwarded only
//     from the sandbox's own address and only to the allowlist, never delivered to the host itself
//     (its own addresses, any interface), never to link-local, multicast, broadcast or another
//     sandbox; the host masquerades what it forwards.
// Both walls match the destination in the IP header, so both refuse what would make the real
// destination differ from it (an IPv6 routing header) or make the packet leave under another
// source (IPV6_FREEBIND needs no capability, and masquerade rewrites only the sandbox's address).
import { fromBigInt, overlaps, parseBlock, toBigInt, type AddressBlock, type AllowEntry, type Family, type Proto } from './egress-allow.js';

/** One allowlist entry with its destination resolved to an address block. */
export interface ResolvedAllow {
  readonly text: string;
  readonly block: AddressBlock;
  readonly port: number;
  readonly proto: Proto;
}

export interface SandboxNetwork {
  readonly allow: readonly ResolvedAllow[];
  /** /etc/hosts inside the sandbox: localhost plus the pinned addresses of the allowed host names. */
  readonly hostsFile: string;
}

/** A /30 (and, for IPv6 allowlists, a /126) carved from the pool, and the names that go with it. */
export interface NetworkSlot {
  readonly index: number;
  /** Host end of the veth pair, in the daemon's namespace. */
  readonly hostIf: string;
  /** The per-invocation host table (its name carries the daemon's pid and start time for the sweep). */
  readonly hostTable: string;
  readonly v4: { readonly host: string; readonly sandbox: string; readonly prefix: number };
  readonly v6?: { readonly host: string; readonly sandbox: string; readonly prefix: number };
}

export interface InterfaceAddress {
  readonly family: Family;
  readonly address: string;
  readonly prefix: number;
}

/** The veth pair: the host end in the daemon's namespace, the peer made directly in the sandbox's. */
export interface VethLinks {
  readonly hostIf: string;
  readonly sandboxIf: string;
  readonly hostAddresses: readonly InterfaceAddress[];
  readonly sandboxAddresses: readonly InterfaceAddress[];
  /** The sandbox's default routes, one per family: through the host end. */
  readonly gateways: readonly { readonly family: Family; readonly address: string }[];
}

export interface NetworkRules {
  readonly links: VethLinks;
  readonly sandboxNft: string;
  readonly hostNft: string;
}

/** The sandbox's end of the veth pair; its namespace holds nothing else but lo. */
export const SANDBOX_IF = 'eth0';
export const SANDBOX_TABLE = 'toolcell';

/**
 * An IPv4 block as seen through RFC 6052's well-known NAT64 prefix 64:ff9b::/96. Where a NAT64
 * gateway (or a DNS64 resolver's answers) serves it, the IPv6 image reaches the IPv4 block itself,
 * so whatever refuses the block must refuse its image too.
 */
export function nat64Image(v4: string): string {
  const b = parseBlock(v4);
  return `${fromBigInt(toBigInt('64:ff9b::', 6) | toBigInt(b.address, 4), 6)}/${96 + b.prefix}`;
}

const DENIED4 = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4'];

/** Never reachable from a sandbox, whatever its allowlist says. */
export const ALWAYS_DENIED: Record<Family, readonly string[]> = {
  4: DENIED4,
  6: ['::/128', '::1/128', '::ffff:0:0/96', 'fe80::/10', 'ff00::/8', ...DENIED4.map(nat64Image)],
};

/** The entries that ALWAYS_DENIED covers whole: no allowlist opens them, so each is a mistake. */
export function neverReachable(entries: readonly AllowEntry[]): AllowEntry[] {
  return entries.filter(({ target }) => {
    if (target.kind !== 'block') return false;
    return ALWAYS_DENIED[target.family].some((text) => {
      const denied = parseBlock(text);
      return denied.prefix <= target.prefix && overlaps(denied, target);
    });
  });
}

const block = (b: AddressBlock) => (b.prefix === (b.family === 4 ? 32 : 128) ? b.address : `${b.address}/${b.prefix}`);
const daddr = (f: Family) => (f === 4 ? 'ip daddr' : 'ip6 daddr');
const sorted = (xs: readonly ResolvedAllow[]) =>
  [...xs].sort((a, b) => a.block.family - b.block.family || block(a.block).localeCompare(block(b.block)) || a.proto.localeCompare(b.proto) || a.port - b.port);

function allowRules(allow: readonly ResolvedAllow[]): string[] {
  return sorted(allow).map((a) => `${daddr(a.block.family)} ${block(a.block)} ${a.proto} dport ${a.port} accept`);
}

function deniedRules(pools: Readonly<Record<Family, string | undefined>>): string[] {
  const denied: Record<Family, string[]> = {
    4: [...ALWAYS_DENIED[4], ...(pools[4] ? [pools[4]] : [])],
    // Other sandboxes, also as a NAT64 gateway would take them back to the IPv4 pool.
    6: [...ALWAYS_DENIED[6], ...(pools[6] ? [pools[6]] : []), ...(pools[4] ? [nat64Image(pools[4])] : [])],
  };
  return ([4, 6] as const).map((f) => `${daddr(f)} { ${denied[f].join(', ')} } goto deny`);
}

/**
 * The sandbox's own firewall: the same for every slot (it names no address of the veth), so it can
 * be loaded while the veth pair is still being made.
 */
export function planSandboxFirewall(net: SandboxNetwork, v6: boolean, pools: Readonly<Record<Family, string | undefined>>): string {
  const set = (name: string, type: string) => [`  set ${name} {`, `    type ${type}`, '    flags dynamic', '    counter', '    size 4096', '  }'];
  return [
    ...emptiedTable(SANDBOX_TABLE),
    `table inet ${SANDBOX_TABLE} {`,
    ...set('denied4', 'ipv4_addr . inet_proto . inet_service'),
    ...set('denied6', 'ipv6_addr . inet_proto . inet_service'),
    ...set('denied4x', 'ipv4_addr . inet_proto'),
    ...set('denied6x', 'ipv6_addr . inet_proto'),
    '  chain output {',
    '    type filter hook output priority filter; policy drop;',
    // First, before replies: IPV6_RTHDR can be set on a socket whose connection is already
    // established, and the header then sends its packets on past the destination accepted.
    '    exthdr rt exists drop',
    '    oifname "lo" accept',
    '    ct state established,related accept',
    // Without IPv6 destinations the sandbox has no IPv6 route; what the kernel itself sends on the
    // link (MLD reports) is refused without being counted as the tool's.
    ...(v6
      ? ['    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, mld-listener-report, mld2-listener-report } accept']
      : ['    meta nfproto ipv6 reject with icmpx admin-prohibited']),
    // A source that is not an address of this namespace (IPV6_FREEBIND) is the host wall's to
    // refuse as well; here without naming the slot's address, so this table stays slot-independent.
    // After the replies: a dropped packet never confirms a conntrack entry, so no established flow
    // has a foreign source. Dropped, not rejected: a reject would be sent to the forged source.
    '    fib saddr type != local drop',
    ...deniedRules(pools).map((r) => `    ${r}`),
    ...allowRules(net.allow).map((r) => `    ${r}`),
    '    goto deny',
    '  }',
    '  chain deny {',
    '    meta nfproto ipv4 meta l4proto { tcp, udp } update @denied4 { ip daddr . meta l4proto . th dport } reject with icmpx admin-prohibited',
    '    meta nfproto ipv6 meta l4proto { tcp, udp } update @denied6 { ip6 daddr . meta l4proto . th dport } reject with icmpx admin-prohibited',
    '    meta nfproto ipv4 update @denied4x { ip daddr . meta l4proto } reject with icmpx admin-prohibited',
    '    meta nfproto ipv6 update @denied6x { ip6 daddr . meta l4proto } reject with icmpx admin-prohibited',
    '    drop',
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    iifname "lo" accept',
    '    ct state established,related accept',
    ...(v6 ? ['    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept'] : []),
    '  }',
    '}',
    '',
  ].join('\n');
}

export function planNetworkRules(net: SandboxNetwork, slot: NetworkSlot, pools: Readonly<Record<Family, string | undefined>>): NetworkRules {
  const v6 = slot.v6;
  const families = [
    { family: 4 as const, ...slot.v4 },
    ...(v6 ? [{ family: 6 as const, ...v6 }] : []),
  ];
  const links: VethLinks = {
    hostIf: slot.hostIf,
    sandboxIf: SANDBOX_IF,
    hostAddresses: families.map((f) => ({ family: f.family, address: f.host, prefix: f.prefix })),
    sandboxAddresses: families.map((f) => ({ family: f.family, address: f.sandbox, prefix: f.prefix })),
    gateways: families.map((f) => ({ family: f.family, address: f.host })),
  };
  const sandboxNft = planSandboxFirewall(net, v6 !== undefined, pools);
  const hostNft = [
    ...emptiedTable(slot.hostTable),
    `table inet ${slot.hostTable} {`,
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname "${slot.hostIf}" jump from_sandbox`,
    `    oifname "${slot.hostIf}" ct state established,related accept`,
    `    oifname "${slot.hostIf}" drop`,
    '  }',
    '  chain from_sandbox {',
    // Masquerade rewrites only the sandbox's own address: anything else would leave the host
    // under a source the tool chose. Without an IPv6 slot the sandbox has no IPv6 to forward.
    `    ip saddr != ${slot.v4.sandbox} drop`,
    ...(v6 ? [`    ip6 saddr != ${v6.sandbox} drop`, '    exthdr rt exists drop'] : ['    meta nfproto ipv6 drop']),
    ...deniedRules(pools).map((r) => `    ${r.replace('goto deny', 'drop')}`),
    ...allowRules(net.allow).map((r) => `    ${r}`),
    '    drop',
    '  }',
    // Nothing from a sandbox is for the host itself: not the veth's own address, not any other
    // address of the host (those are all local deliveries), except what IPv6 needs to find its
    // neighbour.
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...(v6 ? [`    iifname "${slot.hostIf}" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept`] : []),
    `    iifname "${slot.hostIf}" drop`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${slot.v4.sandbox} oifname != "${slot.hostIf}" masquerade`,
    ...(v6 ? [`    ip6 saddr ${v6.sandbox} oifname != "${slot.hostIf}" masquerade`] : []),
    '  }',
    '}',
    '',
  ].join('\n');
  return { links, sandboxNft, hostNft };
}

export const GUARD_TABLE = 'toolcell_guard';

/**
 * A ruleset that starts by emptying its table, in the same transaction: loading it twice (a retry
 * after the kernel's acknowledgement was interrupted) gives the same rules, not duplicates. Not by
 * deleting the table: a commit that deletes base chains waits for an RCU grace period in the
 * kernel (about 13 ms of each sandbox's network setup); a flush keeps the chains and their hooks,
 * and the chains and sets declared after it are the same ones again.
 */
function emptiedTable(name: string): string[] {
  return [`table inet ${name} {}`, `flush table inet ${name}`];
}

/**
 * Loaded before toolcell switches forwarding on in a namespace that did not forward: forward
 * nothing of `family` that neither comes from nor goes to a sandbox's veth. (Declaring a table or
 * chain that exists is a no-op for nft, so a second family only adds its rule.)
 */
export function forwardingGuard(family: Family): string {
  return [
    `table inet ${GUARD_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '  }',
    '}',
    `add rule inet ${GUARD_TABLE} forward meta nfproto ipv${family} iifname != "tcv*" oifname != "tcv*" drop`,
    '',
  ].join('\n');
}

/** Allow entries with every host name replaced by the addresses it resolved to. */
export function resolveAllow(entries: readonly AllowEntry[], resolved: Readonly<Record<string, readonly string[]>>): ResolvedAllow[] {
  return entries.flatMap((e): ResolvedAllow[] => {
    if (e.target.kind === 'block') return [{ text: e.text, block: e.target, port: e.port, proto: e.proto }];
    const addresses = resolved[e.target.name];
    if (!addresses) throw new Error(`host ${e.target.name} was not resolved`);
    return addresses.map((address) => {
      const family: Family = address.includes(':') ? 6 : 4;
      return { text: e.text, block: { family, address, prefix: family === 4 ? 32 : 128 }, port: e.port, proto: e.proto };
    });
  });
}

/** /etc/hosts for a sandbox: the allowed names pinned to the addresses the daemon resolved. */
export function hostsFileFor(hostname: string, resolved: Readonly<Record<string, readonly string[]>>): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost', `127.0.1.1\t${hostname}`];
  for (const name of Object.keys(resolved).sort()) for (const address of resolved[name]!) lines.push(`${address}\t${name}`);
  return `${lines.join('\n')}\n`;
}
