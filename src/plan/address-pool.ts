// Addresses for sandbox veth pairs: slot i is the i-th /30 of the IPv4 pool (host end .1, sandbox
// .2) and the i-th /126 of the IPv6 pool. Pure bookkeeping; which blocks the host already uses is
// read by linux/host-routes and handed in, so a slot never collides with a network of the host.
import { fromBigInt, overlaps, toBigInt, type AddressBlock } from './egress-allow.js';
import type { NetworkSlot } from './network-plan.js';

export interface PoolConfig {
  readonly v4: AddressBlock;
  readonly v6: AddressBlock;
}

export class AddressPoolError extends Error {}

/** toolcell.toml network_pool and network_pool6 when the admin sets neither. */
export const DEFAULT_POOL = { v4: '10.213.0.0/16', v6: 'fd74:6f6f:6c63::/64' } as const;

const V4_SLOT_PREFIX = 30;
const V6_SLOT_PREFIX = 126;

export class AddressPool {
  private readonly used = new Set<number>();
  private next = 0;
  readonly size: number;
  /** The pools as CIDR text, for the rules that keep sandboxes away from each other. */
  readonly cidrs: Readonly<Record<4 | 6, string>>;
  /** The pool that runs out first, as the admin wrote it. */
  private readonly bound: string;

  constructor(
    readonly config: PoolConfig,
    /** The host's own networks (routes and addresses); slots that overlap them are never handed out. */
    private readonly hostBlocks: readonly AddressBlock[],
    /** Names this daemon's host tables carry, so a sweep can tell whose they are. */
    private readonly owner: string,
  ) {
    if (config.v4.family !== 4 || config.v4.prefix > 28) throw new AddressPoolError(`network_pool ${config.v4.address}/${config.v4.prefix}: expected an IPv4 block of /28 or wider`);
    if (config.v6.family !== 6 || config.v6.prefix > 120) throw new AddressPoolError(`network_pool6 ${config.v6.address}/${config.v6.prefix}: expected an IPv6 block of /120 or wider`);
    const v4Slots = 2 ** (V4_SLOT_PREFIX - config.v4.prefix);
    const v6Slots = 2 ** (V6_SLOT_PREFIX - config.v6.prefix);
    // Every slot has its place in both pools, so the smaller one bounds them all: past its end a
    // sandbox's address would lie outside its block, where the rules that keep sandboxes apart (and
    // off the admin's other addresses) do not look.
    this.size = Math.min(v4Slots, v6Slots, 65536);
    this.cidrs = { 4: `${config.v4.address}/${config.v4.prefix}`, 6: `${config.v6.address}/${config.v6.prefix}` };
    this.bound = v6Slots < v4Slots && v6Slots < 65536 ? `network_pool6 ${this.cidrs[6]}` : `network_pool ${this.cidrs[4]}`;
  }

  slot(index: number): NetworkSlot {
    const v4 = toBigInt(this.config.v4.address, 4) + BigInt(index * 4);
    const v6 = toBigInt(this.config.v6.address, 6) + BigInt(index * 4);
    return {
      index,
      // Interface names are short (15 bytes); a name another daemon holds is skipped at creation.
      hostIf: `tcv${index}`,
      hostTable: `toolcell_${this.owner.replace('.', '_')}_${index}`,
      v4: { host: fromBigInt(v4 + 1n, 4), sandbox: fromBigInt(v4 + 2n, 4), prefix: V4_SLOT_PREFIX },
      v6: { host: fromBigInt(v6 + 1n, 6), sandbox: fromBigInt(v6 + 2n, 6), prefix: V6_SLOT_PREFIX },
    };
  }

  private collides(index: number): boolean {
    const s = this.slot(index);
    const mine: AddressBlock[] = [
      { family: 4, address: fromBigInt(toBigInt(s.v4.host, 4) - 1n, 4), prefix: V4_SLOT_PREFIX },
      { family: 6, address: fromBigInt(toBigInt(s.v6!.host, 6) - 1n, 6), prefix: V6_SLOT_PREFIX },
    ];
    return this.hostBlocks.some((h) => h.prefix > 0 && mine.some((m) => overlaps(h, m)));
  }

  /** A free slot, round-robin (a just-released slot is reused last), or an error when none is left. */
  acquire(skip: ReadonlySet<number> = new Set()): NetworkSlot {
    for (let n = 0; n < this.size; n++) {
      const index = (this.next + n) % this.size;
      if (this.used.has(index) || skip.has(index) || this.collides(index)) continue;
      this.used.add(index);
      this.next = (index + 1) % this.size;
      return this.slot(index);
    }
    throw new AddressPoolError(`no free address in ${this.bound} (${this.used.size} sandboxes with network are running)`);
  }

  release(index: number): void {
    this.used.delete(index);
  }
}
