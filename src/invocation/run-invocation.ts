// One invocation, start to finish: Route → Isolate → Execute → Teardown. This is the only place
// that orders side effects; it reads as a checklist, and every step that builds something pushes
// its undo onto the teardown stack first.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toBwrapCommand, toBwrapInputs } from '../plan/bwrap-command.js';
import { ArgumentError } from '../plan/command-template.js';
import { planSandbox, type SandboxPlan } from '../plan/sandbox-plan.js';
import type { ServedTool } from '../profile/load-tools.js';
import { gatherHostFacts } from '../linux/gather-host-facts.js';
import { spawnSandbox, type SandboxExit } from '../linux/sandbox-process.js';
import { readSeccompLog } from '../linux/read-seccomp-log.js';
import { cgroupSetup, createInvocationCgroup, type CgroupUsage } from '../linux/cgroup.js';
import { wireSandboxNetwork, type WiredNetwork } from '../linux/sandbox-network.js';
import { planCgroupLimits } from '../plan/cgroup-limits.js';
import { syscallName } from '../../native/seccomp.js';
import { toSecretInputs } from '../plan/secret-args.js';
import { CappedOutput } from './capped-output.js';
import { collectSecrets } from './collect-secrets.js';
import { maskSecrets } from './mask-secrets.js';
import { stripTerminalControls } from './strip-terminal.js';
import { TeardownStack } from './teardown-stack.js';
import type { DeniedEgress, KillReason, ToolResult } from './tool-result.js';
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
  /** Called every second while the tool runs (MCP progress notifications). */
  readonly onProgress?: (p: { readonly elapsedMs: number; readonly outputBytes: number }) => void;
}

const KILL_GRACE_MS = 5_000;
const PROGRESS_INTERVAL_MS = 1_000;

/** sha256 of the arguments as JSON with sorted keys: the audit joins calls without logging values. */
function canonicalDigest(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex');
}

function abortReason(signal: AbortSignal): KillReason {
  return signal.reason === 'shutdown' ? 'shutdown' : 'cancelled';
}

export async function runInvocation(tool: ServedTool, args: Record<string, unknown>, opts: InvocationOptions): Promise<ToolResult> {
  const { profile } = tool;
  const id = randomUUID();
  const started = performance.now();
  const startedWallMs = Date.now();
  const log = opts.logger.child({ invocation: id, tool: profile.name });

  // Route: the arguments are hostile; nothing is built until they pass the profile's schema and
  // the command template's rules.
  const problems = checkArguments(profile.input, args);
  if (problems.length > 0) throw new InvalidArgumentsError(problems);
  const facts = await gatherHostFacts(profile, tool.user);
  let plan: SandboxPlan;
  try {
    plan = planSandbox(profile, args, facts);
  } catch (e) {
    if (e instanceof ArgumentError) throw new InvalidArgumentsError([e.message]);
    throw e;
  }
  const command = toBwrapCommand(plan);
  const secrets = await collectSecrets(plan, log);
  const inputs = plan.secrets.length > 0 ? toSecretInputs(plan, secrets.buffers) : undefined;

  if (opts.signal?.aborted) throw new InvocationAbortedError(abortReason(opts.signal));

  const teardown = new TeardownStack();
  let usage: CgroupUsage | undefined;
  let deniedEgress: DeniedEgress[] | undefined;
  let networkSetupMs: number | undefined;
  let receipt: Record<string, string> = {};
  let reason: KillReason | null = null;
  let exit: SandboxExit = { code: null, signal: null };
  let stdout: CappedOutput | undefined;
  let stderr: CappedOutput | undefined;
  try {
    // Isolate: the cgroup first, so that the sandbox can join it while bwrap holds it.
    const cgSetup = cgroupSetup();
    const cgroup = cgSetup.mode !== 'none' ? createInvocationCgroup(cgSetup, id, planCgroupLimits(profile)) : undefined;
    if (cgroup) {
      teardown.push('remove cgroup', async () => {
        await cgroup.killAll();
        await cgroup.remove();
      });
    }
    // bwrap builds the namespaces and mounts, then holds before the tool's exec.
    const sandbox = spawnSandbox(command, plan.user, toBwrapInputs(tool.seccomp, plan, inputs));
    teardown.push('kill sandbox', async () => {
      await sandbox.kill();
      await Promise.race([sandbox.exited, new Promise((r) => setTimeout(r, KILL_GRACE_MS).unref())]);
    });
    const killFor = (why: KillReason) => {
      reason ??= why;
      void sandbox.kill();
    };
    stdout = new CappedOutput(sandbox.stdout, plan.outputBytes, () => killFor('output'));
    stderr = new CappedOutput(sandbox.stderr, plan.outputBytes, () => killFor('output'));
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

    let network: WiredNetwork | undefined;
    const sandboxPid = await sandbox.started;
    if (sandboxPid === undefined) reason ??= 'setup';
    else if (reason === null) {
      // Ordering: the sandbox's pid 1 joins the cgroup while held, so the tool and everything it
      // forks start inside it; there is no instruction of the tool outside its limits.
      try {
        cgroup?.place(sandboxPid);
      } catch (e) {
        // bwrap gave up before the tool (its stderr says why): report that, not the placement.
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
        reason ??= 'setup';
      }
      // Likewise its network: veth, routes and both firewalls exist before the tool's first
      // packet. A failure here throws; the tool never starts and the teardown removes the rest.
      if (plan.network && reason === null) {
        const t0 = performance.now();
        try {
          network = await wireSandboxNetwork(sandboxPid, plan.network);
          networkSetupMs = Math.round((performance.now() - t0) * 10) / 10;
        } catch (e) {
          if (reason === null) throw e; // else it failed because the sandbox was killed meanwhile
        }
        const wired = network;
        if (wired) {
          teardown.push('remove network', async () => {
            await sandbox.kill();
            await wired.remove();
          });
        }
      }
      if (reason === null) sandbox.release();
    }

    // Execute: wait for the tool; the timer, the output caps and cancellation may kill it.
    exit = await sandbox.exited;
    usage = cgroup?.usage();
    // The daemon still holds the sandbox's network namespace, so its counters outlive the tool.
    deniedEgress = await network?.denied().catch((e: Error) => {
      log.warn({ err: e }, 'denied egress counters unreadable');
      return undefined;
    });
  } finally {
    receipt = await teardown.run();
    const failures = Object.entries(receipt).filter(([, v]) => v !== 'ok');
    if (failures.length > 0) log.error({ failures: Object.fromEntries(failures) }, 'teardown incomplete');
  }

  const out = stdout?.text() ?? '';
  const err = stderr?.text() ?? '';
  // bwrap reports a failure to build the sandbox (a bind source gone, a cwd missing) as exit 1 and
  // a "bwrap: " line; the tool could print the same, which only mislabels its own failure.
  if (reason === null && exit.code === 1 && err.startsWith('bwrap: ')) reason = 'setup';
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
    stdout: maskSecrets(plan.pty ? stripTerminalControls(out) : out, secrets.values),
    stderr: maskSecrets(err, secrets.values),
    stdoutTruncated: stdout?.truncated ?? false,
    stderrTruncated: stderr?.truncated ?? false,
    stdoutBytes: stdout?.total ?? 0,
    stderrBytes: stderr?.total ?? 0,
    outputCap: plan.outputBytes,
    peakMemoryBytes: usage?.peakMemoryBytes ?? null,
    cpuTimeMs: usage?.cpuTimeMs ?? null,
    peakPids: usage?.peakPids ?? null,
    ...(profile.seccomp.action !== 'errno'
      ? { seccompEvents: readSeccompLog(plan.user.uid, startedWallMs, Date.now()).map((e) => ({ syscall: syscallName(e.nr), action: e.action, count: e.count })) }
      : {}),
    ...(plan.network ? { deniedEgress: deniedEgress ?? [] } : {}),
  };
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
      user: plan.user.name,
      ...(opts.caller ? { caller: { uid: opts.caller.uid, user: opts.caller.user, pid: opts.caller.pid } } : {}),
      argsSha256: canonicalDigest(args),
      ...(profile.log_arguments ? { arguments: args } : {}),
      profileDigest: profile.digest,
      teardown: receipt,
    },
    'invocation',
  );
  return result;
}
