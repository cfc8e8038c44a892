// SeccompPolicy → BPF, once per profile when profiles load. Syscall names the kernel does not know
// on this architecture are an error when the profile wrote them, and skipped in the baseline (it
// lists calls of other architectures too, such as vm86).
import { compileFilter, resolveSyscall, SCMP_ACT_KILL_PROCESS, SCMP_ACT_LOG, scmpActErrno, type NativeRule } from '../../native/seccomp.js';
import type { SeccompAction, SeccompPolicy } from '../plan/seccomp-policy.js';
import { SeccompPolicyError } from '../plan/seccomp-policy.js';

const EPERM = 1;
const ENOSYS = 38;

function actionCode(action: SeccompAction): number {
  switch (action) {
    case 'errno':
      return scmpActErrno(EPERM);
    case 'kill':
      return SCMP_ACT_KILL_PROCESS;
    case 'log':
      return SCMP_ACT_LOG;
  }
}

export function compileSeccomp(policy: SeccompPolicy, settings: { allow: readonly string[] }): Buffer {
  settings.allow.forEach((name, i) => {
    if (!name.startsWith('@') && resolveSyscall(name) === undefined) throw new SeccompPolicyError(`seccomp.allow[${i}]`, `unknown syscall "${name}"`);
  });
  const action = actionCode(policy.action);
  const rules: NativeRule[] = [];
  for (const r of policy.rules) {
    const nr = resolveSyscall(r.syscall);
    if (nr === undefined) {
      if (r.fromProfile && !r.source.startsWith('@')) throw new SeccompPolicyError('seccomp.deny', `unknown syscall "${r.syscall}"`);
      continue;
    }
    const args = (r.when ?? []).map((c) => ({
      arg: c.arg,
      op: c.op,
      // libseccomp's MASKED_EQ takes the mask first, the value second.
      a: c.op === 'masked_eq' ? (c.mask ?? 0n) : c.value,
      b: c.op === 'masked_eq' ? c.value : 0n,
    }));
    rules.push({ action, syscall: nr, args, label: `${r.syscall} (${r.source})` });
  }
  // In log mode nothing is refused, clone3 included; otherwise ENOSYS keeps glibc's threads working.
  const enosysAction = policy.action === 'log' ? SCMP_ACT_LOG : scmpActErrno(ENOSYS);
  for (const name of policy.enosys) {
    const nr = resolveSyscall(name);
    if (nr !== undefined) rules.push({ action: enosysAction, syscall: nr, args: [], label: name });
  }
  return compileFilter(rules);
}
