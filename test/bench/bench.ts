// `npm run bench`: what a tool call costs, against the floor bubblewrap itself sets, measured in
// one run on this machine. Not a test (timings are noisy); test/e2e/bench-smoke runs it tiny.
// Its options are in USAGE below.
//
// --calls-at-1 sets the calls of the row one at a time, back to back, whose p99 is a target: with
// 1000, the p99 is the 10th slowest call, not the 3rd of 300, and moves less from run to run.
// --gap adds a row of calls one at a time, MS apart (0: none): an MCP host's calls come between
// the model's turns, and the daemon's work between calls (replacing a ready sandbox, teardown)
// then does not run beside the next call.
// --node-option and --env change how the daemon is started (after src/server/daemon-runtime.ts's
// options: --node-option=--no-optimize-for-size undoes one), for A/B runs of those options.
// The daemon runs in a private network namespace (the test lab), so the allowlist case wires its
// veths and tables there and nothing of the machine's own network changes.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { lookupUserRecord } from '../../src/linux/users.js';
import { spawnProcess } from '../../src/linux/spawn-process.js';
import { DAEMON_ENV } from '../../src/server/daemon-runtime.js';
import { closeQuietly, connectClient, makeToolsDir, pollUntil, removeDir, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { cgroupParentsCleanup } from '../helpers/cgroup-parents.js';
import { createToolUsers } from '../helpers/fixtures.js';
import { createLab } from '../helpers/test-network.js';
import { f1, NOOP, noopSandbox, processStarts, sample, summarize, type NoopSandbox, type Sample, type Stats } from './measure.js';
import { judgeTargets, type Measured } from './targets.js';
import { trend } from './trend.js';
import { benchOptions, parseAssignments, parseCount, parseCounts } from './options.js';
import type { PipeWriter } from '../../src/linux/pipe-writer.js';

const USAGE = 'node dist/test/bench/bench.js [--calls N] [--calls-at-1 N] [--levels 1,4,16,64] [--gap MS] [--leak N] [--node-option FLAG]... [--env NAME=VALUE]...';
const OPTIONS = {
  options: {
    calls: { type: 'string', default: '300' },
    'calls-at-1': { type: 'string', default: '1000' },
    levels: { type: 'string', default: '1,4,16,64' },
    gap: { type: 'string', default: '100' },
    leak: { type: 'string', default: '10000' },
    'node-option': { type: 'string', multiple: true, default: [] as string[] },
    env: { type: 'string', multiple: true, default: [] as string[] },
  },
} as const;
const { CALLS, CALLS_AT_1, LEVELS, GAP_MS, LEAK_CALLS, NODE_OPTIONS, DAEMON_ENV_EXTRA } = benchOptions('bench', USAGE, OPTIONS, (values) => ({
  CALLS: parseCount('--calls', values.calls, 1),
  CALLS_AT_1: parseCount('--calls-at-1', values['calls-at-1'], 1),
  LEVELS: parseCounts('--levels', values.levels, 1),
  GAP_MS: parseCount('--gap', values.gap, 0),
  LEAK_CALLS: parseCount('--leak', values.leak, 0),
  NODE_OPTIONS: values['node-option'],
  DAEMON_ENV_EXTRA: parseAssignments('--env', values.env),
}));

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Loaded into the daemon for the leak check (and left out of how it was started: the bench's own). */
const HEAP_PROBE = `--import=${new URL('./heap-probe.js', import.meta.url).href}`;

/** The daemon's live heap after full collections, in MiB (test/bench/heap-probe.ts answers SIGUSR2). */
async function liveHeap(daemon: Daemon): Promise<number> {
  const from = daemon.stderr.length;
  const answer = () => /^heap-probe: (\d+)$/m.exec(daemon.stderr.slice(from));
  process.kill(daemon.pid, 'SIGUSR2');
  if (!(await pollUntil(() => answer() !== null, 5000, 50))) throw new Error('the daemon did not answer the heap probe within 5 s');
  return Number(answer()![1]) / 2 ** 20;
}

/** How the daemon was started, as its process says: node's options and the environment it was given. */
function daemonStart(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const options = argv.slice(1, argv.findIndex((a, i) => i > 0 && !a.startsWith('-'))).filter((o) => o !== HEAP_PROBE);
  const given = new Set([...Object.keys(DAEMON_ENV), ...Object.keys(DAEMON_ENV_EXTRA)]);
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => given.has(e.slice(0, e.indexOf('=')))).sort();
  return `node ${options.join(' ')}${env.length ? `, ${env.join(' ')}` : ''}`;
}

/**
 * The kernel, the cgroup hierarchy the daemon uses (from its own "cgroups ready" log line, so the
 * line cannot disagree with the daemon's detection; "none" when it enforces no limits), and whether
 * process starts run in parallel on this machine's CPUs.
 */
async function machine(daemon: Daemon): Promise<string> {
  const ready = daemon.stdout.split('\n').find((l) => l.includes('"msg":"cgroups ready"'));
  const cgroup = ready ? String((JSON.parse(ready) as { cgroup: unknown }).cgroup) : 'none';
  const parallel = availableParallelism();
  const one = await processStarts(PROCESS_STARTS, 1);
  const all = await processStarts(PROCESS_STARTS * parallel, parallel);
  return `machine: kernel ${release()}, cgroup ${cgroup}; /bin/true started ${f1(one)} times a second one at a time, ${f1(all)} with ${parallel} at once (${f1(all / one)}x)`;
}

/** Process starts timed per series in machine(): about a second on a slow machine. */
const PROCESS_STARTS = 400;

/**
 * The floor: bwrap with the argv, binds and seccomp filter toolcell builds, started directly,
 * `concurrency` at a time (what the machine gives without toolcell at the same parallelism).
 */
function floor(sandbox: NoopSandbox, calls: number, concurrency: number, gapMs = 0): Promise<Sample> {
  const { tool, cmd, bareArgv, inputs } = sandbox;
  return sample(calls, concurrency, async () => {
    // posix_spawn, as the tool's user: what a shell's fork of a small process costs, not the fork
    // of a Node process (the bench's own heap would make the floor slower than bwrap is).
    const child = await spawnProcess(cmd.file, bareArgv, { user: tool.user, stdio: ['null', 'null', 'null', 'null', 'null', 'write'] });
    (child.streams[5] as PipeWriter).end(inputs[0]);
    return (await child.exited).code === 0;
  }, gapMs);
}

/** One row: calls at this concurrency, each worker waiting gapMs after each call. */
type Run = [concurrency: number, gapMs: number];

async function drive(clients: DirectClient[], tool: string, calls: number, concurrency: number, gapMs = 0): Promise<Sample> {
  let errors = 0;
  return sample(calls, concurrency, async (worker) => {
    const client = clients[worker % clients.length]!.client;
    const r = await client.callTool({ name: tool, arguments: {} }).catch((e: Error) => ({ isError: true, content: [{ type: 'text', text: e.message }] }));
    if (r.isError && ++errors === 1) process.stderr.write(`bench: first error (${tool}, concurrency ${concurrency}): ${JSON.stringify(r.content).slice(0, 400)}\n`);
    return !r.isError;
  }, gapMs);
}

/**
 * At concurrency 1, where the targets compare a call's latency with the floor's, the floor and the
 * two cases take turns in rounds of at most this many calls (at least three rounds), so that the
 * machine's drift during the run (a shared host's speed moves by a fifth within minutes) falls on
 * all three alike. A round of a case stays short enough that its tool's ready sandboxes outlive
 * the other two's rounds (ready_max_age, 30 s, even 100 ms apart). At higher levels a row stays
 * whole: a round starts and ends below its concurrency, and calls per second meet an absolute target.
 */
const ROUND_CALLS_AT_1 = 100;

const signed = (n: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)}` : '-');

interface LeakCheck {
  readonly errors: number;
  readonly perSecond: number;
  /** Calls between two readings. */
  readonly every: number;
  readonly rss: number[];
  /** RSS growth over the second half of the readings (the first include the heap's warm-up), MiB per 1000 calls. */
  readonly trend: number;
  /** The live heap after full collections: before the calls, then after each part (MiB). */
  readonly heapBefore: number;
  readonly heap: number[];
  /** Its growth over the second half, KiB per 1000 calls. */
  readonly heapTrend: number;
}

/**
 * LEAK_CALLS no-op calls at concurrency 16, in LEAK_READINGS parts, with the daemon's RSS and its
 * live heap after full collections after each: a before and an after alone cannot tell a heap that
 * settles from one that keeps growing, and RSS moves by 1-2 MiB from one reading to the next, which
 * hid a leak of 58 bytes a call (AbortSignal.any, see src/server/linked-signal.ts). (Descriptors
 * are counted by test/e2e/teardown, on a quiet daemon: here the ready pools' size at the end of
 * each part varies.)
 */
async function leakCheck(clients: DirectClient[], daemon: Daemon): Promise<LeakCheck> {
  const every = Math.max(1, Math.round(LEAK_CALLS / LEAK_READINGS));
  const rss: number[] = [];
  const heap: number[] = [];
  const at: number[] = [];
  const heapBefore = await liveHeap(daemon);
  let errors = 0;
  let wallMs = 0;
  for (let done = 0; done < LEAK_CALLS; ) {
    const n = Math.min(every, LEAK_CALLS - done);
    const s = await drive(clients, 'noop', n, 16);
    errors += s.errors;
    wallMs += s.wallMs;
    done += n;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    rss.push(memory(daemon.pid).rss);
    heap.push(await liveHeap(daemon));
    at.push(done / 1000);
  }
  const half = Math.floor(rss.length / 2);
  const trendOf = (ys: number[]) => trend(at.slice(half), ys.slice(half));
  return { errors, perSecond: (LEAK_CALLS / wallMs) * 1000, every, rss, trend: trendOf(rss), heapBefore, heap, heapTrend: trendOf(heap) * 1024 };
}

/**
 * Readings of the leak check. Over its first ten readings or so the live heap moves by up to 0.2
 * MiB from one to the next, however many calls come between them (every 500 or every 1000), and
 * after them it stays within 0.1 MiB: with 10 readings the trend over the second half still had
 * some of that (+40 KiB per 1000 calls in one run, near its limit of 50, without a leak); with 20
 * the second half comes after it. Each reading costs about 0.6 s.
 */
const LEAK_READINGS = 20;

/** Time for the ready pools to rebuild what the last calls took (8 builds, on a slow machine): before a leak check's reading, and between series. */
const SETTLE_MS = 500;

async function main(): Promise<void> {
  const lab = await createLab();
  const removeCgroupParents = cgroupParentsCleanup('bench');
  const removeUsers = await createToolUsers(['noop', 'noopnet']);
  const tools = makeToolsDir({ 'noop.toml': NOOP(''), 'noopnet.toml': NOOP(`"${lab.hostA}:8080"`) }, false);
  const config = 'max_calls = 64\nmax_calls_per_caller = 256\nmax_connections_per_caller = 256\nmax_messages_per_second = 100000\n';
  const daemon = await startDaemon({ tools, configToml: config, wrap: [...lab.inLab, '--'], nodeOptions: [HEAP_PROBE, ...NODE_OPTIONS], env: DAEMON_ENV_EXTRA });
  const clients: DirectClient[] = [];
  try {
    for (let i = 0; i < Math.max(...LEVELS); i++) clients.push(await connectClient(daemon.socket));
    const host = `${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}`;
    const rows: string[] = [];
    rows.push(`toolcell bench: ${CALLS_AT_1} calls at concurrency 1, ${CALLS} in every other row, ${host}`);
    rows.push(`daemon: ${daemonStart(daemon.pid)}`);
    rows.push(await machine(daemon));
    rows.push('');
    // The floor at each concurrency (and with the gap): p50 and p99 of a call are compared with
    // the floor's p50 in the same row, calls per second with the floor's.
    rows.push('| floor: bare bwrap (same argv, binds and seccomp), as the tool user (posix_spawn) | concurrency | p50 ms | p99 ms | calls/s | CPU ms per call | errors |');
    rows.push('|---|---|---|---|---|---|---|');
    // The levels back to back, then one call at a time with gaps.
    const runs: Run[] = LEVELS.map((level): Run => [level, 0]);
    if (GAP_MS > 0) runs.push([1, GAP_MS]);
    const labelOf = ([level, gap]: Run) => (gap > 0 ? `${level}, ${gap} ms apart` : String(level));
    // Calls per second mean nothing when the calls wait between them.
    const perSecond = (s: Stats, gap: number, b?: Stats) => (gap > 0 ? '-' : b ? `${f1(s.perSecond / b.perSecond)}x` : f1(s.perSecond));
    const cases = [['(a) no network', 'noop'], ['(b) one-entry allowlist', 'noopnet']] as const;
    const series = ['floor', ...cases.map(([, tool]) => tool)] as const;
    const sandbox = await noopSandbox();
    for (const [, tool] of cases) await drive(clients, tool, Math.min(20, CALLS), 1); // warm-up
    // Each run's series, summed up, and the daemon's peak RSS once they were done.
    const measured: { run: Run; stats: Map<string, Stats>; peak: number }[] = [];
    for (const run of runs) {
      const total = run[0] === 1 && run[1] === 0 ? CALLS_AT_1 : CALLS;
      const rounds = run[0] === 1 ? Math.min(total, Math.max(3, Math.ceil(total / ROUND_CALLS_AT_1))) : 1;
      const samples = new Map<string, Sample[]>(series.map((name) => [name, []]));
      for (let r = 0; r < rounds; r++) {
        const calls = Math.floor((total * (r + 1)) / rounds) - Math.floor((total * r) / rounds);
        // Each round starts with the next series, so that none always follows the same one.
        for (let i = 0; i < series.length; i++) {
          const name = series[(r + i) % series.length]!;
          // The ready pools rebuild what the series before took: not beside this one.
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
          samples.get(name)!.push(await (name === 'floor' ? floor(sandbox, calls, ...run) : drive(clients, name, calls, ...run)));
        }
      }
      measured.push({ run, stats: new Map([...samples].map(([name, s]) => [name, summarize(s)])), peak: memory(daemon.pid).peak });
    }
    for (const { run, stats } of measured) {
      const s = stats.get('floor')!;
      rows.push(`| floor | ${labelOf(run)} | ${f1(s.p50)} | ${f1(s.p99)} | ${perSecond(s, run[1])} | ${f1(s.cpuMs)} | ${s.errors} |`);
    }
    rows.push('');
    rows.push('| case | concurrency | p50 ms | p99 ms | p50 / floor | p99 / floor p50 | calls/s | calls/s / floor | CPU ms per call | errors | daemon peak RSS MiB |');
    rows.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [label, tool] of cases) {
      for (const { run, stats, peak } of measured) {
        const s = stats.get(tool)!;
        const b = stats.get('floor')!;
        rows.push(`| ${label} | ${labelOf(run)} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.p50 / b.p50)}x | ${f1(s.p99 / b.p50)}x | ${perSecond(s, run[1])} | ${perSecond(s, run[1], b)} | ${f1(s.cpuMs)} | ${s.errors} | ${f1(peak)} |`);
      }
    }
    process.stdout.write(`${rows.join('\n')}\n\n`);

    const before = memory(daemon.pid).rss;
    const leak = LEAK_CALLS > 0 ? await leakCheck(clients, daemon) : undefined;
    const peakRssMiB = memory(daemon.pid).peak;
    // The daemon keeps ready sandboxes while it runs: what is left is counted once it has stopped.
    for (const c of clients.splice(0)) await closeQuietly(c.client);
    await daemon.stop();
    const inLab = (args: string[]) => new Promise<string>((resolve) => {
      const c = spawn(lab.inLab[0]!, [...lab.inLab.slice(1), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.once('close', () => resolve(out));
    });
    // Veth pairs go with their sandbox's namespace, which the kernel frees in the background (slowly
    // under load): give it up to 10 s.
    let links = 0;
    let tables = 0;
    for (let i = 0; i < 50; i++) {
      links = (await inLab(['ip', '-o', 'link'])).split('\n').filter((l) => /: tcv\d+/.test(l)).length;
      tables = (await inLab(['nft', 'list', 'tables'])).split('\n').filter((l) => /toolcell_\d/.test(l)).length;
      if (links === 0 && tables === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const uid = String((await lookupUserRecord('tc-noop'))?.uid);
    const status = (p: string) => {
      try {
        return readFileSync(`/proc/${p}/status`, 'utf8');
      } catch {
        return '';
      }
    };
    const ofTool = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && /^Uid:\s+(\d+)/m.exec(status(p))?.[1] === uid);
    // Exited processes not reaped yet (by the daemon, a subreaper, or the host's init once the
    // daemon is gone) are zombies, not processes; anything alive here outlived its call.
    const zombies = ofTool.filter((p) => /^State:\s+Z/m.test(status(p))).length;
    const alive = ofTool.length - zombies;
    process.stdout.write(
      (leak
        ? `leak check: ${LEAK_CALLS} calls at concurrency 16, ${leak.errors} errors, ${f1(leak.perSecond)} calls/s; daemon RSS ${f1(before)} MiB before, ${f1(leak.rss.at(-1) ?? NaN)} MiB after\n` +
          `  daemon RSS after each ${leak.every} calls (MiB): ${leak.rss.map(f1).join(' ')}; over the second half ${signed(leak.trend)} MiB per 1000 calls\n` +
          `  daemon live heap after full GCs (MiB): ${leak.heapBefore.toFixed(2)} before, then ${leak.heap.map((h) => h.toFixed(2)).join(' ')}; over the second half ${signed(leak.heapTrend)} KiB per 1000 calls\n`
        : 'leak check: not run (--leak 0)\n') +
        `left behind: ${links} veth, ${tables} host tables, ${alive} processes of the tool user (and ${zombies} exited ones the host's init has not reaped yet)\n\n`,
    );
    // A case back to back at a level the targets name, beside its floor.
    const backToBack = (tool: string, level: number): Measured | undefined => {
      const stats = measured.find(({ run }) => run[0] === level && run[1] === 0)?.stats;
      const floorStats = stats?.get('floor');
      return stats && floorStats && { ...stats.get(tool)!, floorP50: floorStats.p50, floorPerSecond: floorStats.perSecond };
    };
    const caseErrors = measured.reduce((n, { stats }) => n + cases.reduce((m, [, tool]) => m + stats.get(tool)!.errors, 0), 0);
    const targets = judgeTargets({
      noNetwork1: backToBack('noop', 1),
      noNetwork16: backToBack('noop', 16),
      allowlist1: backToBack('noopnet', 1),
      errors: caseErrors + (leak?.errors ?? 0),
      peakRssMiB,
      heapTrendKiB: leak?.heapTrend,
    });
    process.stdout.write(`${targets.join('\n')}\n`);
  } finally {
    for (const c of clients) await closeQuietly(c.client);
    await daemon.stop();
    await lab.close();
    removeDir(tools);
    await removeUsers();
    removeCgroupParents();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
