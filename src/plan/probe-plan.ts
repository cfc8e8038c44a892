// `toolcell probe`: what to ask from inside a tool's sandbox, and how to judge the answers. Pure:
// the probe helper (native/probe.c) reports, this decides what is a finding.
import type { Profile } from '../profile/profile.js';
import type { PlannedMount, SandboxPlan } from './sandbox-plan.js';
import { systemTreeOf } from './system-trees.js';

export const PROBE_DEST = '/.toolcell/probe';

/** Host paths that no tool should reach, whatever its profile lists. */
export const SENSITIVE_HOST_PATHS = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/root', '/root/.ssh', '/home', '/etc/toolcell', '/etc/toolcell/secrets', '/run/toolcell', '/var/lib/toolcell'];

/** Destinations that must never answer from a sandbox (documentation blocks and the metadata address). */
export const SAMPLE_DESTINATIONS = ['192.0.2.1:80', '198.51.100.1:443', '203.0.113.1:53', '169.254.169.254:80', '[2001:db8::1]:443'];

export interface ProbeContext {
  /** Writable paths and secret files of the other tools served from the same directory. */
  readonly otherToolsPaths: readonly string[];
}

export interface Finding {
  readonly severity: 'finding' | 'info';
  readonly what: string;
}

export interface ProbeReport {
  readonly tool: string;
  readonly findings: readonly Finding[];
  readonly readablePaths: readonly string[];
  readonly writable: readonly string[];
  readonly processes: number;
  readonly sockets: number;
  readonly environment: readonly string[];
  readonly connections: readonly { readonly destination: string; readonly result: string; readonly allowed: boolean }[];
  readonly syscalls: readonly { readonly name: string; readonly result: string }[];
  readonly limits: Profile['limits'];
}

/** Where a host path shows up inside the sandbox, through the binds of the plan. */
export function sandboxPathsOf(hostPath: string, mounts: readonly PlannedMount[]): string[] {
  const out = new Set<string>();
  for (const m of mounts) {
    if (m.op !== 'ro-bind' && m.op !== 'bind') continue;
    if (hostPath === m.source) out.add(m.dest);
    else if (hostPath.startsWith(`${m.source === '/' ? '' : m.source}/`)) out.add(`${m.dest}${hostPath.slice(m.source.length)}`);
  }
  return [...out];
}

/** The probe helper's argv: paths to check, roots to walk, destinations to try. */
export function probeArguments(plan: SandboxPlan, ctx: ProbeContext, allowed: readonly string[]): string[] {
  const paths = new Set<string>();
  for (const host of [...SENSITIVE_HOST_PATHS, ...ctx.otherToolsPaths]) {
    paths.add(host);
    for (const p of sandboxPathsOf(host, plan.mounts)) paths.add(p);
  }
  const walks = plan.mounts
    .filter((m) => m.op !== 'proc' && m.op !== 'dev' && m.op !== 'symlink' && m.dest !== '/dev/shm' && m.dest !== PROBE_DEST)
    .filter((m) => !((m.op === 'ro-bind' || m.op === 'bind') && systemTreeOf(m.source) !== undefined))
    .map((m) => m.dest);
  return [
    ...[...paths].flatMap((p) => ['--path', p]),
    ...walks.flatMap((w) => ['--walk', w]),
    ...[...allowed, ...SAMPLE_DESTINATIONS].flatMap((d) => ['--connect', d]),
  ];
}

/** Judges the helper's lines: anything sensitive, unlisted or dangerous is a finding. */
export function judgeProbe(profile: Profile, plan: SandboxPlan, output: string, allowed: readonly string[]): ProbeReport {
  const findings: Finding[] = [];
  const readable: string[] = [];
  const writable: string[] = [];
  const env: string[] = [];
  const connections: { destination: string; result: string; allowed: boolean }[] = [];
  const syscalls: { name: string; result: string }[] = [];
  let processes = 0;
  let sockets = 0;
  const expectedWritable = new Set(plan.mounts.filter((m) => m.op === 'tmpfs' || m.op === 'bind').map((m) => m.dest));
  const underExpected = (p: string) => [...expectedWritable].some((d) => p === d || p.startsWith(`${d}/`));
  const allowedSet = new Set(allowed);
  for (const line of output.split('\n')) {
    const [kind, a = '', b = '', c = ''] = line.split('\t');
    switch (kind) {
      case 'path':
        if (b === 'absent' || b.startsWith('denied')) break;
        readable.push(`${a} (${b})`);
        findings.push({ severity: 'finding', what: `${a} is ${b} inside the sandbox (sensitive host path, or another tool's)` });
        break;
      case 'secret':
        findings.push({ severity: 'finding', what: `${a}: readable ${b}` });
        break;
      case 'incomplete':
        // The walk's bounds: what lies beyond was not looked at, so the report cannot vouch for it.
        findings.push({ severity: 'finding', what: `${a}: not looked at beyond here (${b}); what lies further in was not checked` });
        break;
      case 'write':
        writable.push(a);
        if (!underExpected(a)) findings.push({ severity: 'finding', what: `${a} is writable but the profile lists it as read-only` });
        break;
      case 'procs':
        processes = Number(a);
        if (processes > 8) findings.push({ severity: 'finding', what: `${processes} processes are visible (the sandbox's own are at most a few)` });
        break;
      case 'sockets':
        sockets = Number(a);
        break;
      case 'env':
        env.push(a);
        break;
      case 'connect': {
        const destination = a.includes(':') ? `[${a}]:${b}` : `${a}:${b}`;
        const isAllowed = allowedSet.has(destination);
        connections.push({ destination, result: c, allowed: isAllowed });
        if (!isAllowed && c === 'ok') findings.push({ severity: 'finding', what: `${destination} answers although the allowlist does not name it` });
        if (isAllowed && c !== 'ok') findings.push({ severity: 'info', what: `allowed ${destination} did not answer (${c})` });
        break;
      }
      case 'syscall':
        syscalls.push({ name: a, result: b });
        if (b === 'ok') findings.push({ severity: 'finding', what: `${a} succeeds inside the sandbox` });
        break;
      default:
        break;
    }
  }
  return { tool: profile.name, findings, readablePaths: readable, writable, processes, sockets, environment: env, connections, syscalls, limits: profile.limits };
}

export function renderProbe(r: ProbeReport): string {
  const real = r.findings.filter((f) => f.severity === 'finding');
  return [
    `probe of ${r.tool}: ${real.length === 0 ? 'nothing reached beyond the profile' : `${real.length} finding(s)`}`,
    ...r.findings.map((f) => `  ${f.severity === 'finding' ? 'FINDING' : 'note   '} ${f.what}`),
    `writable: ${r.writable.join(', ') || 'nothing'}`,
    `sensitive paths reachable: ${r.readablePaths.join(', ') || 'none'}`,
    `processes visible: ${r.processes}; unix sockets visible: ${r.sockets}`,
    `environment: ${r.environment.join(', ')}`,
    `network: ${r.connections.map((c) => `${c.destination} ${c.result}${c.allowed ? ' (allowed)' : ''}`).join('; ')}`,
    `system calls: ${r.syscalls.map((s) => `${s.name} ${s.result}`).join('; ')}`,
    `limits: memory ${r.limits.memory}, pids ${r.limits.pids}, cpu ${r.limits.cpu}, timeout ${r.limits.timeout} ms`,
    '',
  ].join('\n');
}
