// Host names of an allowlist, resolved by the daemon when a sandbox is built (the sandbox has no DNS).
// The addresses found are the ones allowed and pinned in the sandbox's /etc/hosts; a name that
// does not resolve, or resolves only to addresses a sandbox may never reach, fails the call first.
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { overlaps, parseBlock, type AddressBlock } from '../plan/egress-allow.js';
import { ALWAYS_DENIED } from '../plan/network-plan.js';

const RESOLVE_TIMEOUT_MS = 5_000;

export class HostResolveError extends Error {}

// ALWAYS_DENIED[6] holds the NAT64 images of the refused IPv4 blocks: a DNS64 resolver answers a
// name whose A record is 169.254.169.254 with 64:ff9b::a9fe:a9fe, which a NAT64 gateway takes back.
const denied: AddressBlock[] = ([4, 6] as const).flatMap((family) => ALWAYS_DENIED[family].map(parseBlock));

function reachable(address: string): boolean {
  const b = parseBlock(address);
  return !denied.some((d) => overlaps(d, b));
}

type Lookup = (name: string) => Promise<LookupAddress[]>;

/**
 * getaddrinfo runs on libuv's thread pool (four threads), which every spawn, file operation and
 * libnftables call of the daemon shares, and the system's resolver may hold a thread for 30 s,
 * long past RESOLVE_TIMEOUT_MS: during a DNS outage a few calls of a tool with host names held
 * every thread and stalled every other tool's calls. At most this many lookups hold a thread at
 * once, and calls that want the same name share one.
 */
export const MAX_LOOKUPS = 2;

export class LookupQueue {
  private readonly inFlight = new Map<string, Promise<LookupAddress[]>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly resolve: Lookup = (name) => lookup(name, { all: true, verbatim: true })) {}

  addresses(name: string): Promise<LookupAddress[]> {
    let p = this.inFlight.get(name);
    if (!p) {
      p = this.run(name).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, p);
    }
    return p;
  }

  private async run(name: string): Promise<LookupAddress[]> {
    // A slot is handed from the lookup that ends to the next waiting one, never freed between.
    if (this.running < MAX_LOOKUPS) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await this.resolve(name);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

const lookups = new LookupQueue();

export async function resolveHosts(names: readonly string[], withIPv6: boolean, queue = lookups): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    [...new Set(names)].map(async (name) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${RESOLVE_TIMEOUT_MS / 1000} s`)), RESOLVE_TIMEOUT_MS);
      });
      let found: { address: string; family: number }[];
      try {
        found = await Promise.race([queue.addresses(name), timeout]);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new HostResolveError(`network.allow: host ${name} did not resolve (${code ?? (e as Error).message}); the tool was not started`);
      } finally {
        clearTimeout(timer);
      }
      const usable = found.filter((a) => (a.family === 4 || (withIPv6 && a.family === 6)) && reachable(a.address));
      if (usable.length === 0) {
        throw new HostResolveError(
          `network.allow: host ${name} resolved to ${found.map((a) => a.address).join(', ') || 'nothing'}, none of which a sandbox may reach; the tool was not started`,
        );
      }
      out[name] = [...new Set(usable.map((a) => a.address))].sort();
    }),
  );
  return out;
}
