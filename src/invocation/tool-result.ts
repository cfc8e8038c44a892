// What one invocation produced, as returned to MCP and logged. Pure data plus its rendering.
import { describeSize } from '../plan/parse-units.js';

/** Why toolcell ended the sandbox itself (null: the tool exited on its own). */
export type KillReason = 'timeout' | 'output' | 'cancelled' | 'setup' | 'shutdown' | 'memory' | 'pids';

export interface ToolResult {
  readonly invocationId: string;
  readonly tool: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: KillReason | null;
  readonly durationMs: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly outputCap: number;
  /** From the invocation's cgroup; null where there is none (the host has no usable cgroups). */
  readonly peakMemoryBytes: number | null;
  readonly cpuTimeMs: number | null;
  readonly peakPids: number | null;
  /** Seccomp events the kernel reported for this call (kills; log hits where the kernel audits them). */
  readonly seccompEvents?: readonly { readonly syscall: string; readonly action: 'log' | 'kill'; readonly count: number }[];
  /** Tools with an allowlist: packets their firewall refused, per destination (protocol, port). */
  readonly deniedEgress?: readonly DeniedEgress[];
}

export interface DeniedEgress {
  readonly destination: string;
  /** tcp, udp, or the name of another IP protocol (icmp, ...). */
  readonly protocol: string;
  /** The destination port for tcp and udp, null for other protocols. */
  readonly port: number | null;
  readonly packets: number;
}

/** The machine-readable result: MCP structuredContent, and what `toolcell run --json` prints. */
export function structuredResult(r: ToolResult): Record<string, unknown> {
  return {
    invocationId: r.invocationId,
    exitCode: r.exitCode,
    signal: r.signal,
    reason: r.reason,
    durationMs: r.durationMs,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    stdoutBytes: r.stdoutBytes,
    stderrBytes: r.stderrBytes,
    peakMemoryBytes: r.peakMemoryBytes,
    cpuTimeMs: r.cpuTimeMs,
    peakPids: r.peakPids,
    ...(r.seccompEvents ? { seccompEvents: r.seccompEvents } : {}),
    ...(r.deniedEgress ? { deniedEgress: r.deniedEgress } : {}),
  };
}

export function isFailure(r: ToolResult): boolean {
  return r.exitCode !== 0 || r.reason !== null || r.stdoutTruncated || r.stderrTruncated;
}

const REASON_TEXT: Record<KillReason, string> = {
  timeout: 'killed: the time limit ran out',
  output: 'killed: the output limit was reached',
  cancelled: 'killed: the call was cancelled',
  setup: 'the sandbox could not be set up',
  shutdown: 'killed: toolcell is shutting down',
  memory: 'killed: the memory limit was reached',
  pids: 'failed: the process limit was reached',
};

/** The text an MCP host shows: stdout, and on failure stderr and a line saying what happened. */
export function describeToolResult(r: ToolResult): string {
  const cap = describeSize(r.outputCap);
  let text = r.stdout;
  if (r.stdoutTruncated) text += `\n[toolcell: stdout truncated at ${cap} of ${r.stdoutBytes} bytes]`;
  if (!isFailure(r)) return text;
  if (r.stderr) text += `${text && !text.endsWith('\n') ? '\n' : ''}[stderr]\n${r.stderr}`;
  if (r.stderrTruncated) text += `\n[toolcell: stderr truncated at ${cap} of ${r.stderrBytes} bytes]`;
  const status = r.reason ? REASON_TEXT[r.reason] : r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`;
  const denied = r.deniedEgress?.length
    ? `\n[toolcell: network access refused by the tool's allowlist: ${r.deniedEgress.map((d) => `${d.destination}${d.port === null ? '' : `:${d.port}`}/${d.protocol} (${d.packets})`).join(', ')}]`
    : '';
  return `${text}${text && !text.endsWith('\n') ? '\n' : ''}[toolcell: ${status}]${denied}`;
}
