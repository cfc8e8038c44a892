// Host names of an allowlist, resolved by the daemon when a sandbox is built (the sandbox has no DNS).
// The addresses found are the ones allowed and pinned in the sandbox's /etc/hosts; a name that
// does not resolve, or resolves only to addresses a sandbox may never reach, fails the call first.
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

export async function resolveHosts(names: readonly string[], withIPv6: boolean): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    [...new Set(names)].map(async (name) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${RESOLVE_TIMEOUT_MS / 1000} s`)), RESOLVE_TIMEOUT_MS);
      });
      let found: { address: string; family: number }[];
      try {
        found = await Promise.race([lookup(name, { all: true, verbatim: true }), timeout]);
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
