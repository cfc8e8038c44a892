// What the benchmarks share: the no-op tool, the sandbox toolcell would build for it, and a timer
// that runs a call N times, C at a time, with the machine's CPU time per call.
import { readFileSync } from 'node:fs';
import { compileSeccomp } from '../../src/linux/compile-seccomp.js';
import { gatherHostFacts } from '../../src/linux/gather-host-facts.js';
import { spawnProcess } from '../../src/linux/spawn-process.js';
import { lookupUserRecord } from '../../src/linux/users.js';
import { toBwrapCommand, toBwrapInputs, type BwrapCommand } from '../../src/plan/bwrap-command.js';
import { planSandbox, type SandboxPlan } from '../../src/plan/sandbox-plan.js';
import { planSeccomp } from '../../src/plan/seccomp-policy.js';
import type { ServedTool } from '../../src/profile/load-tools.js';
import { profileFrom } from '../helpers/fixtures.js';

export const NOOP = (allow: string) => `description = "does nothing"
command = ["/bin/true"]
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
tmpfs = ["/tmp:1M"]
[network]
allow = [${allow}]
`;

export interface Stats {
  readonly p50: number;
  readonly p99: number;
  readonly perSecond: number;
  readonly errors: number;
  /** CPU time of the whole machine per call, less this process's own (the clients, the spawns). */
  readonly cpuMs: number;
  /** This process's own CPU time per call. */
  readonly ownCpuMs: number;
}

/** Busy CPU time of the whole machine (every CPU, steal left out) and of this process, in ms. */
function cpuNow(): { machine: number; own: number } {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const own = process.cpuUsage();
  // /proc/stat counts in USER_HZ ticks, 100 a second on Linux.
  return { machine: (user! + nice! + system! + irq! + softirq!) * (1000 / 100), own: (own.user + own.system) / 1000 };
}

/** What one series of calls gave, before it is summed up (so that rounds of one series can be pooled). */
export interface Sample {
  readonly latencies: readonly number[];
  readonly errors: number;
  readonly wallMs: number;
  /** Busy CPU time of the whole machine over the calls, this process's own included, ms. */
  readonly machineMs: number;
  readonly ownMs: number;
}

/** Runs `one` `calls` times, `concurrency` at a time, and times each; each worker waits `gapMs` after each call. */
export async function sample(calls: number, concurrency: number, one: (worker: number) => Promise<boolean>, gapMs = 0): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < calls) {
        next++;
        const start = performance.now();
        if (!(await one(worker))) errors++;
        latencies.push(performance.now() - start);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu1 = cpuNow();
  return { latencies, errors, wallMs, machineMs: cpu1.machine - cpu0.machine, ownMs: cpu1.own - cpu0.own };
}

/** The samples of one series pooled: percentiles over all their calls, rates over all their time. */
export function summarize(samples: readonly Sample[]): Stats {
  const sum = (f: (s: Sample) => number) => samples.reduce((a, s) => a + f(s), 0);
  const sorted = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const calls = sorted.length;
  const at = (q: number) => sorted[Math.min(calls - 1, Math.floor(q * calls))] ?? NaN;
  const own = sum((s) => s.ownMs);
  return { p50: at(0.5), p99: at(0.99), perSecond: (calls / sum((s) => s.wallMs)) * 1000, errors: sum((s) => s.errors), cpuMs: (sum((s) => s.machineMs) - own) / calls, ownCpuMs: own / calls };
}

/** One series of calls, summed up. */
export async function measure(calls: number, concurrency: number, one: (worker: number) => Promise<boolean>, gapMs = 0): Promise<Stats> {
  return summarize([await sample(calls, concurrency, one, gapMs)]);
}

/**
 * Processes the machine starts a second (posix_spawn of /bin/true, as the floor starts bwrap), at
 * this concurrency. One at a time against every CPU at once tells whether starting processes runs
 * in parallel here: a hypervisor can serialize the address-space work of fork and exec over its
 * virtual CPUs, and then no concurrency raises the floor's calls per second, nor toolcell's.
 */
export async function processStarts(calls: number, concurrency: number): Promise<number> {
  const s = await sample(calls, concurrency, async () => {
    const child = await spawnProcess('/bin/true', [], { stdio: ['null', 'null', 'null'] });
    return (await child.exited).code === 0;
  });
  return summarize([s]).perSecond;
}

export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');

export interface NoopSandbox {
  readonly tool: ServedTool;
  readonly plan: SandboxPlan;
  /** What toolcell starts: bwrap holding sandbox-exec until released. */
  readonly cmd: BwrapCommand;
  /** The floor's argv: the same bwrap without the hold, running the tool itself. */
  readonly bareArgv: readonly string[];
  /** bwrap's inputs from descriptor 5 on (the seccomp filter). */
  readonly inputs: (Buffer | undefined)[];
}

/** The sandbox toolcell builds for the no-op tool, run as its user tc-noop (which must exist). */
export async function noopSandbox(): Promise<NoopSandbox> {
  const profile = profileFrom('noop', NOOP(''));
  const record = await lookupUserRecord('tc-noop');
  if (!record) throw new Error('no user tc-noop');
  const user = { name: record.name, uid: record.uid, gid: record.gid };
  const plan = planSandbox(profile, {}, await gatherHostFacts(profile, user));
  const cmd = toBwrapCommand(plan);
  const control = ['--info-fd', '--block-fd'];
  // The tool directly in place of sandbox-exec, and nothing to release bwrap: no --info-fd/--block-fd.
  const bareArgv = [...cmd.argv.slice(0, -1).filter((a, i, all) => !control.includes(a) && !control.includes(all[i - 1] ?? '')), ...plan.argv];
  const seccomp = compileSeccomp(planSeccomp(profile.seccomp), profile.seccomp);
  return { tool: { profile, user, seccomp }, plan, cmd, bareArgv, inputs: toBwrapInputs(seccomp, plan, undefined) };
}
