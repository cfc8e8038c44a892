// `toolcell doctor`: is this host ready? Each line says what was checked and what was found; exit 1
// when something a sandbox needs is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { resolveSyscall } from '../../native/seccomp.js';
import type { DaemonConfig } from '../config/daemon-config.js';
import { cgroupParentDirs, cgroupSetup } from '../linux/cgroup.js';
import { bwrapSupportsDisableUserns, EXEC_HELPER, PTY_HELPER } from '../linux/gather-host-facts.js';
import { RUN_AS } from '../linux/spawn-process.js';
import { nftHost } from '../../native/nftables.js';
import { BWRAP_PATH } from '../plan/bwrap-command.js';
import { SYSTEM_ENV } from '../linux/run-command.js';
import { judgeNode } from '../runtime/node-support.js';

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Not needed for sandboxes to run (shown, never fails the doctor). */
  readonly optional?: boolean;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function attempt(name: string, fn: () => string, optional = false): Check {
  try {
    return { name, ok: true, detail: fn(), optional };
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message.split('\n')[0] ?? 'failed', optional };
  }
}

/**
 * The Node.js that runs toolcell (as installed: the one in the unit's ExecStart and the launcher).
 * Unsupported is a warning: sandboxes work, but a root daemon should not run on a node without
 * security fixes.
 */
function runtimeCheck(): Check {
  const verdict = judgeNode(process.version, new Date());
  const fix = verdict.supported ? '' : ' (fix: sh scripts/install.sh --node PATH; README "Node.js runtime")';
  return { name: 'runtime', ok: verdict.supported, optional: true, detail: `${process.execPath} ${verdict.detail}${fix}` };
}

export async function runDoctor(config: Pick<DaemonConfig, 'cgroup_root'>): Promise<number> {
  const libnftables = await nftHost('list tables', 'list tables').then(
    () => undefined,
    (e: Error) => e,
  );
  const cg = cgroupSetup(config.cgroup_root);
  const checks: Check[] = [
    attempt('bubblewrap', () => {
      const version = execFileSync(BWRAP_PATH, ['--version'], { env: {}, encoding: 'utf8' }).trim();
      return `${version}${bwrapSupportsDisableUserns() ? ', --disable-userns' : ', no --disable-userns (nested user namespaces only blocked by seccomp)'}`;
    }),
    attempt('kernel', () => `Linux ${release()}`),
    attempt('user namespaces', () => {
      const max = readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
      if (max === '0') throw new Error('user.max_user_namespaces is 0 (fix: sysctl -w user.max_user_namespaces=15000)');
      // Debian kernels before 6.x and some hardened ones: unprivileged user namespaces switched off.
      if (readOptional('/proc/sys/kernel/unprivileged_userns_clone') === '0') {
        throw new Error('kernel.unprivileged_userns_clone is 0: bwrap runs unprivileged (fix: sysctl -w kernel.unprivileged_userns_clone=1)');
      }
      // Ubuntu 23.10 and later: AppArmor refuses user namespaces to programs without a profile.
      if (readOptional('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
        throw new Error('AppArmor restricts unprivileged user namespaces (fix: an AppArmor profile for /usr/bin/bwrap with "userns," or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)');
      }
      return `max_user_namespaces ${max}`;
    }),
    attempt('libseccomp', () => {
      if (resolveSyscall('ptrace') === undefined) throw new Error('cannot resolve syscall names');
      return 'libseccomp.so.2 loads through koffi';
    }),
    {
      name: 'cgroups',
      ok: cg.mode !== 'none',
      detail: cg.mode === 'none' ? `limits not enforced: ${cg.why}` : `${cg.mode}${cg.mode === 'v2' ? ' (delegated subtree)' : ''}, invocation cgroups in ${cgroupParentDirs(cg).join(', ')}`,
    },
    attempt('helpers', () => {
      const missing = [RUN_AS, EXEC_HELPER].filter((p) => !existsSync(p));
      if (missing.length > 0) throw new Error(`${missing.join(', ')} missing (run scripts/setup.sh)`);
      return `${RUN_AS} (starts bwrap as the tool's user), ${EXEC_HELPER} (the program in every sandbox)`;
    }),
    attempt('pty helper', () => {
      if (!existsSync(PTY_HELPER)) throw new Error(`${PTY_HELPER} missing (run scripts/setup.sh)`);
      return PTY_HELPER;
    }, true),
    attempt(
      'nftables',
      () => {
        // The daemon uses libnftables in-process; the nft program only reports the version.
        const version = execFileSync('nft', ['--version'], { env: SYSTEM_ENV, encoding: 'utf8' }).trim();
        if (libnftables) throw libnftables;
        return `${version}, libnftables usable (needed only by tools with a [network] allowlist)`;
      },
      true,
    ),
    attempt(
      'landlock',
      () => {
        const lsm = readOptional('/sys/kernel/security/lsm') ?? '';
        if (!lsm.split(',').includes('landlock')) throw new Error('not enabled in this kernel (not used by toolcell yet)');
        return 'enabled (not used by toolcell yet)';
      },
      true,
    ),
    runtimeCheck(),
  ];
  for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : c.optional ? 'warn' : 'FAIL'} ${c.name}: ${c.detail}\n`);
  return checks.some((c) => !c.ok && !c.optional) ? 1 : 0;
}
