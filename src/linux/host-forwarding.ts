// Sandbox traffic is routed through the daemon's namespace, which needs IP forwarding there. On a
// workstation that did not forward before, switching it on would also turn the machine into a
// router between its other interfaces; so when toolcell is the one switching it on, a guard table
// is loaded first that forwards nothing but sandbox traffic, and the host's IPv6 autoconfiguration
// is kept (forwarding makes Linux ignore router advertisements where accept_ra is 1). A host that
// already forwards keeps its own policy untouched.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Family } from '../plan/egress-allow.js';
import { forwardingGuard } from '../plan/network-plan.js';
import { nftHost } from '../../native/nftables.js';

const FORWARDING: Record<Family, string> = { 4: '/proc/sys/net/ipv4/ip_forward', 6: '/proc/sys/net/ipv6/conf/all/forwarding' };

export interface ForwardingChange {
  readonly family: Family;
  /** Interfaces whose accept_ra went from 1 to 2 (IPv6 only). */
  readonly acceptRa: readonly string[];
}

/** Switches forwarding on for `family` if it is off; returns what was changed, or undefined. */
export async function ensureForwarding(family: Family): Promise<ForwardingChange | undefined> {
  if (readFileSync(FORWARDING[family], 'utf8').trim() === '1') return undefined;
  // The guard first: there is no moment in which the host forwards without it.
  await nftHost('load forwarding guard', forwardingGuard(family));
  const acceptRa: string[] = [];
  if (family === 6) {
    for (const dev of readdirSync('/proc/sys/net/ipv6/conf')) {
      if (dev === 'all' || dev === 'default' || dev === 'lo') continue;
      const file = `/proc/sys/net/ipv6/conf/${dev}/accept_ra`;
      try {
        if (readFileSync(file, 'utf8').trim() === '1') {
          writeFileSync(file, '2');
          acceptRa.push(dev);
        }
      } catch {
        // the interface went away meanwhile
      }
    }
  }
  writeFileSync(FORWARDING[family], '1');
  return { family, acceptRa };
}
