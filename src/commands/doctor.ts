// `toolcell doctor`: is this host ready? Each line says what was checked and what was found; exit 1
// when something a sandbox needs is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolveSyscall } from '../../native/seccomp.js';
import type { DaemonConfig } from '../config/daemon-config.js';
import { cgroupParentDirs, cgroupSetup } from '../linux/cgroup.js';
import { bwrapSupportsDisableUserns, PTY_HELPER } from '../linux/gather-host-facts.js';
import { BWRAP_PATH } from '../plan/bwrap-command.js';

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Not needed for sandboxes to run (shown, never fails the doctor). */
  readonly optional?: boolean;
}

function attempt(name: string, fn: () => string, optional = false): Check {
  try {
    return { name, ok: true, detail: fn(), optional };
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message.split('\n')[0] ?? 'failed', optional };
  }
}

export function runDoctor(config: Pick<DaemonConfig, 'cgroup_root'>): number {
  const cg = cgroupSetup(config.cgroup_root);
  const checks: Check[] = [
    attempt('bubblewrap', () => {
      const version = execFileSync(BWRAP_PATH, ['--version'], { env: {}, encoding: 'utf8' }).trim();
      return `${version}${bwrapSupportsDisableUserns() ? ', --disable-userns' : ', no --disable-userns (nested user namespaces only blocked by seccomp)'}`;
    }),
    attempt('user namespaces', () => {
      const max = readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
      if (max === '0') throw new Error('user.max_user_namespaces is 0');
      return `max_user_namespaces ${max}`;
    }),
    attempt('libseccomp', () => {
      if (resolveSyscall('ptrace') === undefined) throw new Error('cannot resolve syscall names');
      return 'libseccomp.so.2 loads through koffi';
    }),
    { name: 'cgroups', ok: cg.mode !== 'none', detail: cg.mode === 'none' ? `limits not enforced: ${cg.why}` : `${cg.mode}, invocation cgroups in ${cgroupParentDirs(cg).join(', ')}` },
    attempt('pty helper', () => {
      if (!existsSync(PTY_HELPER)) throw new Error(`${PTY_HELPER} missing (run scripts/setup.sh)`);
      return PTY_HELPER;
    }, true),
    attempt('nftables', () => execFileSync('nft', ['--version'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: 'utf8' }).trim(), true),
    attempt('node', () => process.version),
  ];
  for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : c.optional ? 'warn' : 'FAIL'} ${c.name}: ${c.detail}\n`);
  return checks.some((c) => !c.ok && !c.optional) ? 1 : 0;
}
