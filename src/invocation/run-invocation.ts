// One invocation, start to finish: Route → Isolate → Execute → Teardown. This is the only place
// that orders a call's side effects; it reads as a checklist. Isolate is build-sandbox (now, or
// ahead of demand by the ready pool), whose teardown stack this call runs at the end.
import { createHash, randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { encodeArgv } from '../plan/bwrap-command.js';
import { MONITOR_PIDS } from '../plan/cgroup-limits.js';
import { ArgumentError } from '../plan/command-template.js';
import { planArgv } from '../plan/sandbox-plan.js';
import type { ServedTool } from '../profile/load-tools.js';
import type { SandboxExit } from '../linux/sandbox-process.js';
import { readSeccompLog } from '../linux/read-seccomp-log.js';
import type { CgroupUsage } from '../linux/cgroup.js';
import { syscallName } from '../../native/seccomp.js';
import { buildSandbox, goneOrGrace, runTeardown } from './build-sandbox.js';
import { CappedOutput } from './capped-output.js';
import { maskSecrets, maskTerminalOutput } from './mask-secrets.js';
import type { ReadyPool } from './ready-pool.js';
import { TeardownStack } from './teardown-stack.js';
import { capDeniedEgress, type DeniedEgress, type KillReason, type ToolResult } from './tool-result.js';
import { checkArguments } from './validate-arguments.js';

export { InvocationSetupError } from './collect-secrets.js';

/** The caller's arguments were refused before anything ran (an MCP InvalidParams error). */
export class InvalidArgumentsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** The call was cancelled (or the daemon is stopping) before a sandbox was started. */
export class InvocationAbortedError extends Error {
  constructor(readonly reason: KillReason) {
    super(`the call was ${reason === 'shutdown' ? 'stopped by a daemon shutdown' : 'cancelled'} before its sandbox started`);
  }
}

export interface InvocationOptions {
  readonly logger: Logger;
  /** Who asked for the call (peer credentials), for the audit record; absent for local runs. */
  readonly caller?: { readonly uid: number; readonly pid: number; readonly user: string };
  /** Aborting kills the sandbox; a KillReason as abort reason is reported as such. */
  readonly signal?: AbortSignal;
  /** Sandboxes built ahead of demand (the daemon's); without it every call builds its own. */
  readonly pool?: ReadyPool;
  /**
   * Takes the sandbox's teardown and the audit line, so the result goes out before them (the
   * daemon waits for this work when it stops). Without it, nothing is left when this returns.
   */
  readonly background?: (work: Promise<void>) => void;
  /** Called every second while the tool runs (MCP progress notifications). */
  readonly onProgress?: (p: { readonly elapsedMs: number; readonly outputBytes: number }) => void;
}

const PROGRESS_INTERVAL_MS = 1_000;

/** How a caller stands in log lines: who, by the kernel's account, and the name it was found under. */
export function loggedCaller(c: { readonly uid: number; readonly user: string; readonly pid: number }): { uid: number; user: string; pid: number } {
  return { uid: c.uid, user: c.user, pid: c.pid };
}

/** sha256 of the arguments as JSON with sorted keys: the audit joins calls without logging values. */
export function canonicalDigest(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex');
}

function abortReason(signal: AbortSignal): KillReason {
  return signal.reason === 'shutdown' ? 'shutdown' : 'cancelled';
}

export async function runInvocation(tool: ServedTool, args: Record<string, unknown>, opts: InvocationOptions): Promise<ToolResult> {
  const { profile } = tool;
  const started = performance.now();
  const startedWallMs = Date.now();

  // Route: the arguments are hostile; nothing runs until they pass the profile's schema and the
  // command template's rules.
  const problems = checkArguments(profile.input, args);
  if (problems.length > 0) throw new InvalidArgumentsError(problems);
  let argv: string[];
  try {
    argv = planArgv(profile, args);
  } catch (e) {
    if (e instanceof ArgumentError) throw new InvalidArgumentsError([e.message]);
    throw e;
  }

  if (opts.signal?.aborted) throw new InvocationAbortedError(abortReason(opts.signal));

  // Isolate: a sandbox the pool built ahead of demand, or one built now, the same way.
  let built = await opts.pool?.take(tool);
  const prebuilt = built !== undefined;
  if (!built) {
    const id = randomUUID();
    built = await buildSandbox(tool, id, opts.logger.child({ invocation: id, tool: profile.name }));
  }
  const { id, enclosure: plan, process: sandbox, cgroup, network, networkSetupMs } = built;
  // The call's own undo steps (timer, progress, abort listener) run before the answer; the
  // sandbox's (cgroup, network, process) may run after it, in the background (opts.background).
  const teardown = new TeardownStack();
  const isolated = performance.now();
  let exited = isolated;
  let counted = isolated;
  const log = opts.logger.child({ invocation: id, tool: profile.name });

  let usage: CgroupUsage | undefined;
  let deniedEgress: DeniedEgress[] | undefined;
  let reason: KillReason | null = built.failed ? 'setup' : null;
  let exit: SandboxExit = { code: null, signal: null };
  let stdout: CappedOutput | undefined;
  let stderr: CappedOutput | undefined;
  try {
    const killFor = (why: KillReason) => {
      reason ??= why;
      void sandbox.kill();
    };
    const capOutput = (stream: typeof sandbox.stdout) => new CappedOutput(stream, plan.outputBytes, () => killFor('output'), () => goneOrGrace(sandbox));
    stdout = capOutput(sandbox.stdout);
    stderr = capOutput(sandbox.stderr);
    const timer = setTimeout(() => killFor('timeout'), plan.timeoutMs);
    teardown.push('clear timer', () => clearTimeout(timer));
    if (opts.onProgress) {
      const onProgress = opts.onProgress;
      const ticker = setInterval(() => onProgress({ elapsedMs: Math.round(performance.now() - started), outputBytes: (stdout?.total ?? 0) + (stderr?.total ?? 0) }), PROGRESS_INTERVAL_MS);
      teardown.push('stop progress', () => clearInterval(ticker));
    }
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = () => killFor(abortReason(signal));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      teardown.push('detach abort', () => signal.removeEventListener('abort', onAbort));
    }

    // Execute: sandbox-exec gets the argv and execs the tool; the timer, the output caps and
    // cancellation may kill it.
    if (reason === null) sandbox.run(encodeArgv(argv));
    exit = await sandbox.exited;
    exited = performance.now();
    usage = cgroup?.usage();
    // The daemon still holds the sandbox's network namespace, so its counters outlive the tool.
    deniedEgress = await network?.denied().catch((e: Error) => {
      log.warn({ err: e }, 'denied egress counters unreadable');
      return undefined;
    });
    counted = performance.now();
  } catch (e) {
    await runTeardown(teardown, log);
    await runTeardown(built.teardown, log);
    throw e;
  }
  const callReceipt = await runTeardown(teardown, log);

  const out = stdout?.text() ?? '';
  const err = stderr?.text() ?? '';
  // bwrap reports a failure to build the sandbox (a bind source gone, a cwd missing) as exit 1 and
  // a "bwrap: " line, sandbox-exec one to start the tool as exit 127 and a "sandbox-exec: " line;
  // the tool could print the same, which only mislabels its own failure.
  if (reason === null && ((exit.code === 1 && err.startsWith('bwrap: ')) || (exit.code === 127 && err.startsWith('sandbox-exec: ')))) reason = 'setup';
  // The kernel's account: an OOM kill in the cgroup is "memory"; a refused fork that left the tool
  // failing is "pids".
  if (reason === null && usage && usage.oomKills > 0) reason = 'memory';
  if (reason === null && usage && usage.pidsLimitHits > 0 && exit.code !== 0) reason = 'pids';
  // Killed by toolcell: the sandbox's pid 1 got SIGKILL, which bwrap reports as status 137.
  const killed = reason !== null && reason !== 'setup' && reason !== 'pids';
  const result: ToolResult = {
    invocationId: id,
    tool: profile.name,
    exitCode: killed ? null : exit.code,
    signal: killed ? 'SIGKILL' : exit.signal,
    reason,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    stdout: (plan.pty ? maskTerminalOutput : maskSecrets)(out, built.secrets, stdout?.truncated),
    stderr: maskSecrets(err, built.secrets, stderr?.truncated),
    stdoutTruncated: stdout?.truncated ?? false,
    stderrTruncated: stderr?.truncated ?? false,
    stdoutBytes: stdout?.total ?? 0,
    stderrBytes: stderr?.total ?? 0,
    outputCap: plan.outputBytes,
    peakMemoryBytes: usage?.peakMemoryBytes ?? null,
    cpuTimeMs: usage?.cpuTimeMs ?? null,
    peakPids: usage?.peakPids == null ? null : usage.peakPids - MONITOR_PIDS,
    ...(profile.seccomp.action !== 'errno'
      ? { seccompEvents: readSeccompLog(plan.user.uid, startedWallMs, Date.now()).map((e) => ({ syscall: syscallName(e.nr, e.arch), action: e.action, count: e.count })) }
      : {}),
    ...(plan.network ? capDeniedEgress(deniedEgress ?? []) : {}),
  };
  // Teardown: the sandbox is dead (bwrap exited, and its pid namespace with it); what is left is
  // its cgroup, network and descriptors. The audit line waits for their receipt. It starts on the
  // next turn of the event loop, so that the answer goes out first.
  const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
  const finished = nextTurn().then(async () => {
    const receipt = await runTeardown(built.teardown, log);
    log.info(
      {
        durationMs: result.durationMs,
        exitCode: result.exitCode,
        signal: result.signal,
        reason: result.reason,
        stdoutBytes: result.stdoutBytes,
        stderrBytes: result.stderrBytes,
        truncated: result.stdoutTruncated || result.stderrTruncated,
        peakMemoryBytes: result.peakMemoryBytes,
        cpuTimeMs: result.cpuTimeMs,
        peakPids: result.peakPids,
        ...(result.seccompEvents ? { seccompEvents: result.seccompEvents } : {}),
        ...(result.deniedEgress ? { deniedEgress: result.deniedEgress, networkSetupMs } : {}),
        ...(result.deniedEgressOmitted ? { deniedEgressOmitted: result.deniedEgressOmitted } : {}),
        user: plan.user.name,
        prebuilt,
        ...(opts.caller ? { caller: loggedCaller(opts.caller) } : {}),
        argsSha256: canonicalDigest(args),
        ...(profile.log_arguments ? { arguments: args } : {}),
        profileDigest: profile.digest,
        teardown: { ...callReceipt, ...receipt },
        // Where the time went: building the sandbox (0 for a ready one), the tool until bwrap
        // exited, reading usage and counters, and the teardown.
        phasesMs: { isolate: ms(started, isolated), execute: ms(isolated, exited), account: ms(exited, counted), teardown: ms(counted, performance.now()) },
      },
      'invocation',
    );
  });
  if (opts.background) opts.background(finished);
  else await finished;
  return result;
}
