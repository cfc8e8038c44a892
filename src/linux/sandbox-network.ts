// Mechanism for sandboxes with an allowlist: a veth pair whose sandbox end is created directly in
// the held sandbox's network namespace, the rules of plan/network-plan loaded on both sides, the
// denied-packet counters read back, and all of it removed again. The daemon holds the sandbox's
// namespace open by descriptor from wiring to removal, so the counters can still be read after
// the tool has exited, and nothing of it survives the daemon (a crash closes the descriptor, the
// namespace and with it the veth pair go away; the host table is swept at the next start).
import { closeSync, openSync } from 'node:fs';
import type { AddressBlock, Family } from '../plan/egress-allow.js';
import { fromBigInt, parseBlock, prefixMask, toBigInt } from '../plan/egress-allow.js';
import { AddressPool, DEFAULT_POOL, type PoolConfig } from '../plan/address-pool.js';
import { planNetworkRules, planSandboxFirewall, SANDBOX_TABLE, type NetworkSlot, type SandboxNetwork, type VethLinks } from '../plan/network-plan.js';
import { OWNER, ownerAlive } from './process-owner.js';
import { runCommand } from './run-command.js';
import { nftHost, nftIn, NftError } from '../../native/nftables.js';
import { NetfilterSocket, NetlinkError, RouteSocket } from '../../native/netlink.js';
import { deleteLink, getLink, getLinkByIndex, linkUp, newAddress, newDefaultRoute, newVethPair } from './rtnetlink-messages.js';
import { ensureForwarding, type ForwardingChange } from './host-forwarding.js';
import type { DeniedEgress } from '../invocation/tool-result.js';

const IP = '/usr/bin/ip';
const LINK_ATTEMPTS = 8;
const EEXIST = 17;
const ENODEV = 19;
/** How long a released sandbox's veth pair may take to go with its namespace before it is deleted. */
export const PAIR_GRACE_MS = 5_000;

export interface WiredNetwork {
  readonly slot: NetworkSlot;
  /** Packets the sandbox's own firewall refused, per destination, protocol and port. */
  denied(): Promise<DeniedEgress[]>;
  /**
   * Idempotent: host table, namespace descriptor (and with it, once no process is left in the
   * namespace, the veth pair), address slot. Call it after the sandbox is dead.
   */
  remove(): Promise<void>;
}

export class NetworkSetupError extends Error {}

let poolConfig: PoolConfig | undefined;
let pool: Promise<AddressPool> | undefined;

/** The daemon's network settings (toolcell.toml), before the first call with an allowlist. */
export function configureSandboxNetworks(config: PoolConfig): void {
  poolConfig = config;
  pool = undefined;
}

/** Told what toolcell changed on the host (forwarding switched on), once, for the daemon's log. */
let onHostChange: (change: ForwardingChange) => void = () => undefined;

export function onForwardingChange(listener: (change: ForwardingChange) => void): void {
  onHostChange = listener;
}

async function forwarding(family: Family): Promise<void> {
  const change = await ensureForwarding(family);
  if (change) onHostChange(change);
}

/**
 * The pool, made on first use: the host's own networks are read once so no slot collides with
 * them, and IPv4 forwarding is switched on in the daemon's namespace (sandbox traffic is routed
 * through it; the per-invocation tables decide what may pass).
 */
function addressPool(): Promise<AddressPool> {
  pool ??= (async () => {
    poolConfig ??= { v4: parseBlock(DEFAULT_POOL.v4), v6: parseBlock(DEFAULT_POOL.v6) };
    const blocks = await hostBlocks();
    await forwarding(4);
    return new AddressPool(poolConfig, blocks, OWNER);
  })();
  pool.catch(() => (pool = undefined));
  return pool;
}

/** Every network the daemon's namespace routes to or has an address in (defaults excepted). */
async function hostBlocks(): Promise<AddressBlock[]> {
  const blocks: AddressBlock[] = [];
  const add = (text: string | undefined, family: Family) => {
    if (!text || text === 'default') return;
    const [address = '', prefixText] = text.split('/');
    const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
    try {
      blocks.push({ family, address: fromBigInt(toBigInt(address, family) & prefixMask(family, prefix), family), prefix });
    } catch {
      // not an address (a route type ip -j prints as text)
    }
  };
  for (const family of [4, 6] as const) {
    const routes = JSON.parse((await runCommand('read host routes', IP, ['-j', `-${family}`, 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string }[];
    for (const r of routes) add(r.dst, family);
  }
  const links = JSON.parse((await runCommand('read host addresses', IP, ['-j', 'addr', 'show'])) || '[]') as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  for (const l of links) for (const a of l.addr_info ?? []) add(`${a.local}/${a.prefixlen}`, a.family === 'inet' ? 4 : 6);
  return blocks;
}

let hasIPv6: Promise<boolean> | undefined;

/**
 * Whether the daemon's namespace has an IPv6 default route (then host names also resolve to
 * AAAA). Read once, like the host's networks for the pool: not one `ip` spawn per call.
 */
export function hostHasIPv6(): Promise<boolean> {
  hasIPv6 ??= runCommand('read IPv6 default route', IP, ['-j', '-6', 'route', 'show', 'default'])
    .catch(() => '[]')
    .then((out) => (JSON.parse(out || '[]') as unknown[]).length > 0);
  return hasIPv6;
}

/** Host tables waiting to be deleted, with whoever waits for each. */
const doomed = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();

/**
 * Deletes a host table together with the others whose deletion is waiting for the nft queue, in
 * one transaction: a commit that deletes waits for an RCU grace period in the kernel (about
 * 10 ms), so per batch instead of per table. A table already gone is not an error.
 */
function deleteHostTable(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const first = doomed.size === 0;
    doomed.set(name, [...(doomed.get(name) ?? []), { resolve, reject }]);
    if (first) void flushDeletions();
  });
}

async function flushDeletions(): Promise<void> {
  let batch: [string, { resolve: () => void; reject: (e: Error) => void }[]][] = [];
  const take = () => {
    batch = [...doomed];
    doomed.clear();
    return batch.map(([name]) => `delete table inet ${name}\n`).join('');
  };
  try {
    await nftHost('delete host tables', take);
    for (const [, waiters] of batch) for (const w of waiters) w.resolve();
  } catch {
    // One table already gone fails the whole transaction: then each on its own.
    for (const [name, waiters] of batch) {
      const outcome = await nftHost('delete host table', `delete table inet ${name}`).then(
        () => undefined,
        (e: NftError) => (/No such file or directory/.test(e.detail ?? '') ? undefined : e),
      );
      for (const w of waiters) (outcome ? w.reject(outcome) : w.resolve());
    }
  }
}

/** In the daemon's namespace: the veth pair (the peer made in the sandbox's namespace), the host end up and addressed. */
/** The pair, and the host end's addresses; resolves with the host end's index. */
async function hostEnd(links: VethLinks, netns: number): Promise<number> {
  const sock = RouteSocket.open();
  try {
    await sock.request('create veth pair', (seq) => newVethPair(seq, links.hostIf, links.sandboxIf, netns));
    return await configure(sock, 'host', links.hostIf, links.hostAddresses.map((a) => (seq, index) => newAddress(seq, index, a)));
  } finally {
    sock.close();
  }
}

/**
 * Once the sandbox's namespace is released, the kernel removes its pair with it. A namespace
 * something else still holds (a socket of it, passed out of the sandbox to another one) keeps its
 * pair, and the host end's addresses and routes: with the host's table gone, what came through it
 * would pass no wall on the host (nothing stops a packet to the host itself). So the host's table
 * stays until the pair is gone, and a pair still there after PAIR_GRACE_MS is deleted (its peer
 * goes with it, in whatever namespace). Deleting it always would cost every call the kernel's
 * wait for the device to go (about 30 ms, holding the rtnl lock other sandboxes' networks need).
 */
async function pairGone(index: number): Promise<void> {
  const sock = RouteSocket.open();
  try {
    const deadline = performance.now() + PAIR_GRACE_MS;
    for (let wait = 10; ; wait = Math.min(2 * wait, 500)) {
      try {
        await sock.request('look for the veth pair', (seq) => getLinkByIndex(seq, index));
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === ENODEV) return;
        throw e;
      }
      if (performance.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    await sock.request('delete a veth pair its namespace outlived', (seq) => deleteLink(seq, index)).catch((e: unknown) => {
      if (!(e instanceof NetlinkError && e.errno === ENODEV)) throw e;
    });
  } finally {
    sock.close();
  }
}

/** Inside the sandbox's namespace: its end up, its addresses and default routes. */
async function sandboxEnd(links: VethLinks, netns: number): Promise<void> {
  const sock = RouteSocket.open(netns);
  try {
    await configure(sock, 'sandbox', links.sandboxIf, [
      linkUp,
      ...links.sandboxAddresses.map((a) => (seq: number, index: number) => newAddress(seq, index, a)),
      ...links.gateways.map((g) => (seq: number, index: number) => newDefaultRoute(seq, index, g.family, g.address)),
    ]);
  } finally {
    sock.close();
  }
}

/** Looks up the link `name` and sends each request for it, in order; resolves with its index. */
async function configure(sock: RouteSocket, side: string, name: string, requests: ((seq: number, index: number) => Buffer)[]): Promise<number> {
  const link = await sock.request(`find ${side} link ${name}`, (seq) => getLink(seq, name));
  if (link.kind !== 'link') throw new Error(`find ${side} link ${name}: no link in the kernel's answer`);
  for (const build of requests) await sock.request(`configure ${side} link ${name}`, (seq) => build(seq, link.index));
  return link.index;
}

/** Wires the held sandbox `pid`; on any failure what was made is removed again before the error is thrown. */
export async function wireSandboxNetwork(pid: number, net: SandboxNetwork): Promise<WiredNetwork> {
  const addresses = await addressPool();
  const v6 = net.allow.some((a) => a.block.family === 6);
  if (v6) await forwarding(6);
  const netns = openSync(`/proc/${pid}/ns/net`, 'r');
  const skip = new Set<number>();
  let slot: NetworkSlot | undefined;
  let hostIndex: number | undefined;
  let removed = false;
  // Closing the descriptor releases the sandbox's namespace (its processes are dead), and the
  // kernel removes the pair with it; the host's table and the slot go once the pair has (pairGone).
  const remove = async () => {
    if (removed) return;
    removed = true;
    closeSync(netns);
    let failure: string | undefined;
    if (slot) {
      if (hostIndex !== undefined) await pairGone(hostIndex).catch((e: Error) => (failure = e.message));
      await deleteHostTable(slot.hostTable).catch((e: Error) => (failure ??= e.message));
      addresses.release(slot.index);
    }
    if (failure) throw new NetworkSetupError(failure);
  };
  // The sandbox's own firewall names no address of the veth: loaded while the pair is made. (A
  // handler at once, so a failure is not an unhandled rejection while the pair is still made;
  // every path below waits for it before the namespace's descriptor is closed.)
  const sandboxFirewall = nftIn(netns, 'load sandbox firewall', planSandboxFirewall(net, v6, addresses.cidrs));
  sandboxFirewall.catch(() => undefined);
  try {
    let rules;
    for (let attempt = 1; ; attempt++) {
      const candidate = addresses.acquire(skip);
      const s = v6 ? candidate : { ...candidate, v6: undefined };
      rules = planNetworkRules(net, s, addresses.cidrs);
      try {
        hostIndex = await hostEnd(rules.links, netns);
        slot = s;
        break;
      } catch (e) {
        const taken = e instanceof NetlinkError && e.errno === EEXIST && e.step === 'create veth pair' && attempt < LINK_ATTEMPTS;
        // A half-made pair (link made, address failed) goes with the sandbox's namespace.
        if (!taken) slot = s;
        else addresses.release(s.index);
        if (!taken) throw e;
        skip.add(s.index); // another daemon in this namespace holds that interface name
      }
    }
    // The host's firewall while the sandbox's end is configured. All three settle before a
    // failure is acted on: removing while the host table is still being loaded would delete
    // nothing and leave the table behind.
    const steps = await Promise.allSettled([sandboxEnd(rules.links, netns), sandboxFirewall, nftHost('load host firewall', rules.hostNft)]);
    const failed = steps.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (e) {
    await sandboxFirewall.catch(() => undefined);
    await remove().catch(() => undefined);
    throw e instanceof NetlinkError || e instanceof NftError ? new NetworkSetupError(`sandbox network: ${e.message}`) : e;
  }
  const wired = slot!;
  return {
    slot: wired,
    async denied() {
      if (removed) return [];
      // Through nfnetlink, not libnftables: the call waited on libnftables' one queue behind other
      // sandboxes' firewall loads, and a context, a cache and a JSON listing cost 1.5 ms or more.
      const sock = NetfilterSocket.open(netns);
      try {
        return await sock.denied('read denied egress', SANDBOX_TABLE);
      } finally {
        sock.close();
      }
    },
    remove,
  };
}

/** Host tables of daemons that are gone (a crash): deleted. Their veth pairs went with their sandboxes. */
export async function sweepStaleNetworks(): Promise<string[]> {
  let out: string;
  try {
    out = await nftHost('list host tables', 'list tables inet', { json: true });
  } catch {
    return []; // no nftables on this host: nothing can have been left
  }
  const doc = JSON.parse(out || '{}') as { nftables?: { table?: { name: string } }[] };
  const stale = (doc.nftables ?? [])
    .map((i) => i.table?.name)
    .filter((n): n is string => n !== undefined)
    .filter((n) => {
      const m = /^toolcell_(\d+)_(\d+)_\d+$/.exec(n);
      return m !== null && !ownerAlive(m[1]!, m[2]!);
    });
  for (const name of stale) await nftHost('delete stale host table', `delete table inet ${name}`);
  return stale;
}
