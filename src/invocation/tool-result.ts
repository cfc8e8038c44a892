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
  /** What deniedEgress leaves out past DENIED_EGRESS_LISTED destinations. */
  readonly deniedEgressOmitted?: { readonly destinations: number; readonly packets: number };
}

/**
 * Destinations listed per call, the most refused first. A tool that scans can fill its firewall's
 * counting sets (4 x 4,096 entries): listed whole, that was a megabyte in the answer and in the
 * audit line, which journald splits past 48 KiB.
 */
export const DENIED_EGRESS_LISTED = 64;

/** The DENIED_EGRESS_LISTED most refused destinations, and what the rest add up to. */
export function capDeniedEgress(all: readonly DeniedEgress[]): Pick<ToolResult, 'deniedEgress' | 'deniedEgressOmitted'> {
  const sorted = [...all].sort((a, b) => b.packets - a.packets || a.destination.localeCompare(b.destination) || a.protocol.localeCompare(b.protocol) || (a.port ?? -1) - (b.port ?? -1));
  const rest = sorted.slice(DENIED_EGRESS_LISTED);
  return {
    deniedEgress: sorted.slice(0, DENIED_EGRESS_LISTED),
    ...(rest.length > 0 ? { deniedEgressOmitted: { destinations: rest.length, packets: rest.reduce((n, d) => n + d.packets, 0) } } : {}),
  };
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
    ...(r.deniedEgressOmitted ? { deniedEgressOmitted: r.deniedEgressOmitted } : {}),
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
    ? `\n[toolcell: network access refused by the tool's allowlist: ${r.deniedEgress.map((d) => `${d.destination}${d.port === null ? '' : `:${d.port}`}/${d.protocol} (${d.packets})`).join(', ')}${
        r.deniedEgressOmitted ? `, and ${r.deniedEgressOmitted.destinations} more (${r.deniedEgressOmitted.packets})` : ''
      }]`
    : '';
  return `${text}${text && !text.endsWith('\n') ? '\n' : ''}[toolcell: ${status}]${denied}`;
}
