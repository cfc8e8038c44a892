// Sandboxes built ahead of demand, per tool, so that a call only hands its argv to a sandbox that
// already stands (namespaces, mounts, seccomp, cgroup, network). Never reused: each one is taken
// by exactly one call or torn down. Only tools that were called recently get any: taking one
// builds its replacement, and one not taken within max age is torn down and not replaced.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { ServedTool } from '../profile/load-tools.js';
import { buildSandbox, runTeardown, type BuiltSandbox } from './build-sandbox.js';
import { PendingWork } from './pending-work.js';

export interface ReadyPoolOptions {
  /** Ready sandboxes kept per tool; 0 turns the pool off. */
  readonly perTool: number;
  readonly maxAgeMs: number;
  /** Builds under way at once, over all tools (default: twice the CPUs, at least 4). */
  readonly maxBuilds?: number;
  /**
   * Sandboxes standing ready (and built to stand ready) over all tools; a build a waiting call
   * will take does not count. Without it, a caller that calls every tool once had perTool of each
   * built and held (processes, a cgroup, a veth pair and firewall tables each).
   */
  readonly maxReady?: number;
  readonly logger: Logger;
  /** How a sandbox is built; tests replace it. */
  readonly build?: typeof buildSandbox;
}

interface Ready {
  readonly sandbox: BuiltSandbox;
  readonly timer: NodeJS.Timeout;
  dead: boolean;
}

interface Slot {
  /** What the ready sandboxes were built from; another version of the tool gets a new slot. */
  readonly key: string;
  readonly tool: ServedTool;
  readonly ready: Ready[];
  building: number;
  /** After a failed build the tool gets no ready sandboxes until then; its calls build their own. */
  pausedUntil: number;
  /** Calls waiting for a build under way, first come first served; undefined: build your own. */
  readonly waiters: Waiter[];
}

interface Waiter {
  /** When the call began to wait, in arrivals at the pool (over all tools). */
  readonly arrival: number;
  readonly resolve: (sandbox: BuiltSandbox | undefined) => void;
}

/** A taken sandbox's replacement is built when its tool ends, or after this long at the latest. */
export const REPLACE_AFTER_MS = 250;

const keyOf = (tool: ServedTool) => `${tool.profile.digest}:${tool.user.uid}:${tool.user.gid}`;

export class ReadyPool {
  private readonly slots = new Map<string, Slot>();
  private readonly pending = new PendingWork();
  private readonly build: typeof buildSandbox;
  private readonly log: Logger;
  private readonly maxBuilds: number;
  /** Builds under way, over all slots. */
  private building = 0;
  private closed = false;
  private arrivals = 0;
  /** Each served tool's version as of the last reload (retain); until one, any version take is given. */
  private served?: ReadonlyMap<string, string>;

  constructor(private readonly opts: ReadyPoolOptions) {
    this.build = opts.build ?? buildSandbox;
    this.maxBuilds = opts.maxBuilds ?? Math.max(4, 2 * availableParallelism());
    this.log = opts.logger.child({ component: 'ready-pool' });
  }

  /**
   * A tool with secrets never gets a sandbox ahead of its call: the values are read when the call
   * starts and never wait in an idle sandbox (and a rotated secret is never served stale).
   */
  static eligible(tool: ServedTool): boolean {
    return Object.keys(tool.profile.secrets).length === 0;
  }

  /**
   * A sandbox for this version of the tool: a ready one, or else the next one the pool finishes
   * building (never later than one the call would start now). Undefined when the pool gives
   * none (off, closed, not eligible, paused after a failed build, a version a reload replaced):
   * the call builds its own. Either way the pool is topped up, but never for a replaced version.
   */
  async take(tool: ServedTool): Promise<BuiltSandbox | undefined> {
    if (this.closed || this.opts.perTool === 0 || !ReadyPool.eligible(tool) || this.replaced(tool)) return undefined;
    const slot = this.slotFor(tool);
    let found: BuiltSandbox | undefined;
    while (!found && slot.ready.length > 0) {
      const r = slot.ready.shift()!;
      clearTimeout(r.timer);
      if (r.dead) this.discard(r.sandbox);
      else found = r.sandbox;
    }
    if (found) {
      // The replacement is built once the call's tool has ended, not beside it: a build (run-as,
      // bwrap's namespaces and mounts) slows a call it runs beside, whatever its CPU share (a
      // build at the lowest cgroup CPU weight slowed it as much). Calls 80 ms apart took 40%
      // longer with their replacement built alongside. A tool that runs longer than
      // REPLACE_AFTER_MS gets it built then, so the pool stays full while long calls run. On the
      // next turn of the event loop: a build's first steps run on this thread, after the answer.
      const replace = () => setImmediate(() => this.refillIfCurrent(slot));
      const timer = setTimeout(replace, REPLACE_AFTER_MS).unref();
      void found.process.exited.then(() => {
        clearTimeout(timer);
        replace();
      });
      return found;
    }
    this.refill(slot);
    if (Date.now() < slot.pausedUntil) return undefined;
    return new Promise((resolve) => {
      slot.waiters.push({ arrival: this.arrivals++, resolve });
      this.refill(slot);
    });
  }

  /** After a reload: sandboxes of tools that are gone or changed are torn down. */
  retain(tools: ReadonlyMap<string, ServedTool>): void {
    this.served = new Map([...tools].map(([name, t]) => [name, keyOf(t)]));
    for (const [name, slot] of this.slots) {
      const tool = tools.get(name);
      if (!tool || keyOf(tool) !== slot.key) this.drop(name, slot);
    }
  }

  /** Tears down every ready sandbox and waits for builds under way (their sandboxes too). */
  async close(): Promise<void> {
    this.closed = true;
    for (const [name, slot] of this.slots) this.drop(name, slot);
    await this.pending.settled();
  }

  /** Sandboxes standing ready, and builds no waiting call will take, over all tools. */
  private standing(): number {
    let n = 0;
    for (const slot of this.slots.values()) n += slot.ready.length + Math.max(0, slot.building - slot.waiters.length);
    return n;
  }

  /** Ready sandboxes per tool name (for the log and tests). */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([name, s]) => [name, s.ready.length]));
  }

  private slotFor(tool: ServedTool): Slot {
    const name = tool.profile.name;
    const key = keyOf(tool);
    const existing = this.slots.get(name);
    if (existing?.key === key) return existing;
    if (existing) this.drop(name, existing);
    const slot: Slot = { key, tool, ready: [], building: 0, pausedUntil: 0, waiters: [] };
    this.slots.set(name, slot);
    return slot;
  }

  /**
   * A call that looked its tool up before a reload takes after it: a slot for that version would
   * drop the served version's and stand, built for a profile no call will use, until max age.
   */
  private replaced(tool: ServedTool): boolean {
    return this.served !== undefined && this.served.get(tool.profile.name) !== keyOf(tool);
  }

  /** A slot is dropped when its tool goes or changes (retain, slotFor); a dropped one gets no more builds. */
  private isCurrent(slot: Slot): boolean {
    return this.slots.get(slot.tool.profile.name) === slot;
  }

  /** A refill that comes later: not once the pool is closed or the slot dropped. */
  private refillIfCurrent(slot: Slot): void {
    if (!this.closed && this.isCurrent(slot)) this.refill(slot);
  }

  private drop(name: string, slot: Slot): void {
    this.slots.delete(name);
    for (const w of slot.waiters.splice(0)) w.resolve(undefined);
    for (const r of slot.ready.splice(0)) {
      clearTimeout(r.timer);
      this.discard(r.sandbox);
    }
  }

  private refill(slot: Slot): void {
    const { tool } = slot;
    if (Date.now() < slot.pausedUntil) {
      // No more builds for this tool for now: the calls no build under way will serve build their own.
      for (const w of slot.waiters.splice(slot.building)) w.resolve(undefined);
      return;
    }
    // Each waiting call has a build of its own under way besides the perTool kept ready, so
    // builds run in parallel as if the calls built their own; a call gets whichever finishes
    // first. But no more than maxBuilds at once over all tools: the CPUs are busy with that many
    // (the network's part of a build waits for the kernel's rtnl lock, one at a time), and each
    // build under way holds memory (64 at once took the daemon from 100 to 170 MiB).
    while (
      slot.ready.length + slot.building < this.opts.perTool + slot.waiters.length &&
      this.building < this.maxBuilds &&
      // A build to stand ready (every waiting call has one under way already) only within maxReady.
      (slot.building < slot.waiters.length || this.standing() < (this.opts.maxReady ?? Infinity))
    ) {
      slot.building++;
      this.building++;
      const id = randomUUID();
      this.track(
        this.build(tool, id, this.log).then(
          (sandbox) => {
            this.finished(slot);
            if (sandbox.failed) {
              slot.pausedUntil = Date.now() + this.opts.maxAgeMs;
              this.log.warn({ tool: tool.profile.name, invocation: id }, 'a ready sandbox could not be built; calls build their own for now');
            }
            if (this.closed || !this.isCurrent(slot) || sandbox.failed) {
              slot.waiters.shift()?.resolve(undefined);
              return this.discard(sandbox);
            }
            const waiter = slot.waiters.shift();
            if (waiter) {
              waiter.resolve(sandbox);
              // Its replacement only after the calls that waited longer got theirs (finished's turn).
              return queueMicrotask(() => this.refillIfCurrent(slot));
            }
            const r: Ready = { sandbox, dead: false, timer: setTimeout(() => this.expire(slot, r), this.opts.maxAgeMs).unref() };
            void sandbox.process.exited.then(() => (r.dead = true));
            slot.ready.push(r);
          },
          (e: Error) => {
            this.finished(slot);
            slot.waiters.shift()?.resolve(undefined);
            slot.pausedUntil = Date.now() + this.opts.maxAgeMs;
            this.log.warn({ tool: tool.profile.name, err: e }, 'a ready sandbox could not be built; calls build their own for now');
          },
        ),
      );
    }
  }

  /**
   * A build ended: its place goes to the tool whose call has waited longest. (Given to the tool
   * whose build ended, a tool in constant demand kept every place while another tool's calls
   * waited: under load, network calls waited over two minutes behind a stream of echo calls.)
   */
  private finished(slot: Slot): void {
    slot.building--;
    this.building--;
    queueMicrotask(() => {
      const waiting = [...this.slots.values()].filter((s) => s.waiters.length > 0);
      waiting.sort((a, b) => a.waiters[0]!.arrival - b.waiters[0]!.arrival);
      for (const s of waiting) this.refill(s);
    });
  }

  private expire(slot: Slot, r: Ready): void {
    const i = slot.ready.indexOf(r);
    if (i < 0) return;
    slot.ready.splice(i, 1);
    this.discard(r.sandbox);
  }

  private discard(sandbox: BuiltSandbox): void {
    this.track(runTeardown(sandbox.teardown, this.log.child({ invocation: sandbox.id })));
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
  }
}
