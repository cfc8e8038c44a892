// [seccomp] → the rules to compile: the baseline minus what the profile allows, plus what it
// denies. Pure; syscall names are checked against the kernel's table when the filter is compiled.
import { ENOSYS_SYSCALLS, GROUPS, type SyscallRule } from './seccomp-baseline.js';

export type SeccompAction = 'errno' | 'kill' | 'log';

export interface SeccompSettings {
  readonly action: SeccompAction;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

export interface SeccompPolicy {
  readonly action: SeccompAction;
  /** Denied with the profile's action; `source` says which entry put the rule there. */
  readonly rules: readonly (SyscallRule & { readonly source: string; readonly fromProfile: boolean })[];
  /** Answered ENOSYS (clone3), unless allowed. */
  readonly enosys: readonly string[];
}

export class SeccompPolicyError extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
  }
}

function groupOf(key: string, name: string) {
  const group = GROUPS[name];
  if (!group) throw new SeccompPolicyError(key, `unknown group "${name}" (known: ${Object.keys(GROUPS).join(', ')})`);
  return group;
}

export function planSeccomp(s: SeccompSettings): SeccompPolicy {
  const allowedGroups = new Set<string>();
  const allowedCalls = new Set<string>();
  s.allow.forEach((entry, i) => {
    if (entry.startsWith('@')) {
      groupOf(`seccomp.allow[${i}]`, entry);
      allowedGroups.add(entry);
    } else allowedCalls.add(entry);
  });

  const rules: (SyscallRule & { source: string; fromProfile: boolean })[] = [];
  for (const [name, group] of Object.entries(GROUPS)) {
    if (allowedGroups.has(name)) continue;
    for (const r of group.rules) if (!allowedCalls.has(r.syscall)) rules.push({ ...r, source: name, fromProfile: false });
  }
  const wholeDenials = new Set<string>();
  s.deny.forEach((entry, i) => {
    if (entry.startsWith('@')) {
      for (const r of groupOf(`seccomp.deny[${i}]`, entry).rules) rules.push({ ...r, source: entry, fromProfile: true });
    } else {
      wholeDenials.add(entry);
    }
  });
  // A whole-syscall denial covers that syscall's argument rules; libseccomp refuses both at once.
  const kept = rules.filter((r) => !wholeDenials.has(r.syscall));
  for (const syscall of [...wholeDenials].sort()) kept.push({ syscall, source: syscall, fromProfile: true });

  // The same rule reached through two entries is compiled once.
  const seen = new Set<string>();
  const unique = kept.filter((r) => {
    const id = JSON.stringify([r.syscall, (r.when ?? []).map((c) => [c.arg, c.op, String(c.value), String(c.mask ?? '')])]);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  const enosys = ENOSYS_SYSCALLS.filter((c) => !allowedCalls.has(c) && !allowedGroups.has('@namespaces') && !wholeDenials.has(c));
  return { action: s.action, rules: unique, enosys };
}
