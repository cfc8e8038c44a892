// `toolcell explain`: the effective sandbox of one tool, from the same pure planning code a call
// uses: the plan, its bwrap argv, the syscall policy, the limits and the network rules. No I/O.
import type { Profile } from '../profile/profile.js';
import { EXEC_HELPER_DEST, type SandboxPlan } from './sandbox-plan.js';
import type { BwrapCommand } from './bwrap-command.js';
import type { SeccompPolicy } from './seccomp-policy.js';
import type { NetworkRules } from './network-plan.js';
import { describeSize } from './parse-units.js';

export interface Explanation {
  readonly tool: string;
  readonly file: string;
  readonly description: string;
  readonly user: { readonly name: string; readonly uid: number; readonly gid: number };
  readonly mounts: readonly string[];
  readonly missing: readonly string[];
  readonly environment: readonly string[];
  readonly secrets: readonly string[];
  readonly seccomp: { readonly action: string; readonly denied: readonly string[]; readonly enosys: readonly string[] };
  readonly limits: Profile['limits'];
  readonly callers: Profile['callers'] | null;
  readonly network: { readonly allow: readonly string[]; readonly sandboxNft: string; readonly hostNft: string } | null;
  /** The tool's argv (placeholders for the arguments), which sandbox-exec gets on its stdin. */
  readonly command: readonly string[];
  readonly bwrap: readonly string[];
}

export function explain(profile: Profile, plan: SandboxPlan, command: BwrapCommand, seccomp: SeccompPolicy, network: NetworkRules | undefined): Explanation {
  const mounts = plan.mounts.map((m) => {
    switch (m.op) {
      case 'ro-bind':
        return `${m.dest}  read-only  ← ${m.source}`;
      case 'bind':
        return `${m.dest}  WRITABLE   ← ${m.source}`;
      case 'tmpfs':
        return `${m.dest}  tmpfs ${describeSize(m.size)}, empty every call`;
      case 'symlink':
        return `${m.dest}  symlink → ${m.target}`;
      default:
        return `${m.dest}  ${m.op}`;
    }
  });
  return {
    tool: profile.name,
    file: profile.file,
    description: profile.description,
    user: plan.user,
    mounts,
    missing: plan.missing,
    environment: Object.keys(plan.env),
    secrets: plan.secrets.map((s) => `${s.name} (${s.as === 'env' ? 'environment' : `file /run/secrets/${s.name}`}, from ${s.file})`),
    seccomp: {
      action: seccomp.action,
      // "name*": denied only for some arguments (clone with CLONE_NEW*, ioctl TIOCSTI, socket families...).
      denied: [...new Set(seccomp.rules.map((r) => (r.when?.length ? `${r.syscall}*` : r.syscall)))].filter((n, _, all) => !n.endsWith('*') || !all.includes(n.slice(0, -1))).sort(),
      enosys: seccomp.enosys,
    },
    limits: profile.limits,
    callers: profile.callers ?? null,
    network: plan.network && network ? { allow: profile.egress.map((e) => e.text), sandboxNft: network.sandboxNft, hostNft: network.hostNft } : null,
    command: plan.argv,
    bwrap: [command.file, ...command.argv],
  };
}

export function renderExplanation(e: Explanation): string {
  const l = e.limits;
  const lines = [
    `tool ${e.tool} (${e.file})`,
    `  ${e.description}`,
    '',
    `runs as ${e.user.name} (uid ${e.user.uid}, gid ${e.user.gid}), no capabilities, every namespace of its own`,
    `callers: ${e.callers ? `users ${e.callers.users.join(', ') || '-'}; groups ${e.callers.groups.join(', ') || '-'} (and root)` : 'everyone who may connect'}`,
    '',
    'file system:',
    ...e.mounts.map((m) => `  ${m}`),
    ...(e.missing.length ? [`  (skipped, not on this host: ${e.missing.join(', ')})`] : []),
    '',
    `environment: ${e.environment.join(', ')}`,
    `secrets: ${e.secrets.length ? e.secrets.join('; ') : 'none'}`,
    '',
    `syscalls: ${e.seccomp.denied.length} denied (${e.seccomp.action === 'errno' ? 'EPERM' : e.seccomp.action}); ENOSYS: ${e.seccomp.enosys.join(', ') || 'none'}`,
    `  ${e.seccomp.denied.join(' ')}`,
    '  (*: only for some arguments, e.g. clone with CLONE_NEW* flags, ioctl TIOCSTI, socket families other than unix and inet)',
    '',
    `limits: memory ${describeSize(l.memory)} (${l.memory_swap ? `swap ${describeSize(l.memory_swap)}` : 'no swap'}), ${l.pids} processes, ${l.cpu} cpu, timeout ${l.timeout / 1000} s, output ${describeSize(l.output)} per stream`,
    '',
    `network: ${e.network ? `only ${e.network.allow.join(', ')}` : 'none (only lo)'}`,
    ...(e.network ? ['  inside the sandbox (nft -f):', ...indent(e.network.sandboxNft), '  on the host, per call (nft -f):', ...indent(e.network.hostNft)] : []),
    '',
    `command (handed to ${EXEC_HELPER_DEST} on its stdin once the sandbox stands):`,
    `  ${shellQuote(e.command)}`,
    '',
    'bwrap argv:',
    `  ${shellQuote(e.bwrap)}`,
    '',
  ];
  return lines.join('\n');
}

const shellQuote = (argv: readonly string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
const indent = (text: string) => text.trimEnd().split('\n').map((t) => `    ${t}`);
