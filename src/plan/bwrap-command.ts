// SandboxPlan → BwrapCommand. This argv *is* the security model (bubblewrap README, "Sandbox
// security"), so it is built in one pure function and checked in as a golden file per profile.

import { EXEC_HELPER_DEST, type PlannedMount, type SandboxEnclosure } from './sandbox-plan.js';
import type { SecretInputs } from './secret-args.js';

/** argv, descriptors and environment travel together: bwrap gets exactly these and nothing else. */
export interface BwrapCommand {
  readonly file: string;
  readonly argv: readonly string[];
  /** Child descriptor numbers of the control pipes, as placed in the spawn stdio array. */
  readonly fds: { readonly info: number; readonly block: number };
  /** Always empty: bwrap's environment is readable inside as /proc/1/environ. */
  readonly env: Readonly<Record<string, string>>;
}

export const BWRAP_PATH = '/usr/bin/bwrap';
export const CONTROL_FDS = { info: 3, block: 4 } as const;
/**
 * Data the daemon writes to bwrap, one descriptor each from 5 up: the compiled seccomp filter
 * (installed just before exec), /etc/hosts of a sandbox with network, the secret arguments
 * (--args), then one per file secret.
 */
export const INPUT_FDS = { seccomp: 5, hosts: 6, secretArgs: 7, firstSecretFile: 8 } as const;

/** The data for descriptors 5, 6, ... in the order INPUT_FDS gives them; undefined: that descriptor stays closed. */
export function toBwrapInputs(seccomp: Buffer, plan: Pick<SandboxEnclosure, 'network'>, secrets: SecretInputs | undefined): (Buffer | undefined)[] {
  const hosts = plan.network ? Buffer.from(plan.network.hostsFile) : undefined;
  return [seccomp, ...(hosts || secrets ? [hosts] : []), ...(secrets ? [secrets.args, ...secrets.files] : [])];
}

function mountArgs(m: PlannedMount): string[] {
  switch (m.op) {
    case 'ro-bind':
      return ['--ro-bind', m.source, m.dest];
    case 'bind':
      return ['--bind', m.source, m.dest];
    case 'tmpfs':
      return ['--size', String(m.size), '--tmpfs', m.dest];
    case 'symlink':
      return ['--symlink', m.target, m.dest];
    case 'proc':
      return ['--proc', m.dest];
    case 'dev':
      return ['--dev', m.dest];
    default: {
      const never: never = m;
      throw new Error(`unhandled mount ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The tool's argv as sandbox-exec reads it from its stdin: each argument followed by a NUL. The
 * template already refused NUL inside an argument, so the split is unambiguous.
 */
export function encodeArgv(argv: readonly string[]): Buffer {
  if (argv.length === 0 || argv.some((a) => a.includes('\0'))) throw new Error('argv must be non-empty and free of NUL bytes');
  return Buffer.from(argv.map((a) => `${a}\0`).join(''));
}

export function toBwrapCommand(plan: SandboxEnclosure): BwrapCommand {
  const argv = [
    // Every namespace, a new session (no TIOCSTI into the caller's terminal), no capabilities,
    // and the sandbox dies with its bwrap parent so that killing bwrap ends the whole tree.
    '--unshare-all',
    '--unshare-user',
    ...(plan.disableUserns ? ['--disable-userns'] : []),
    '--die-with-parent',
    '--new-session',
    // The program is the sandbox's pid 1, with no init of bwrap's before it: one fork and one
    // process less per sandbox, and the whole sandbox ends with the tool (see README, "The tool as
    // pid 1").
    '--as-pid-1',
    '--clearenv',
    '--cap-drop', 'ALL',
    '--seccomp', String(INPUT_FDS.seccomp),
    '--hostname', plan.hostname,
    // The daemon learns the sandbox pid from --info-fd and holds the tool at --block-fd until its
    // cgroup and network are in place; the tool never runs before that.
    '--info-fd', String(CONTROL_FDS.info),
    '--block-fd', String(CONTROL_FDS.block),
    ...plan.mounts.flatMap(mountArgs),
    // A sandbox with network resolves nothing itself: the daemon pins the allowed names here.
    ...(plan.network ? ['--ro-bind-data', String(INPUT_FDS.hosts), '/etc/hosts'] : []),
    // Secrets arrive as more arguments on a descriptor, so their values are on no command line.
    ...(plan.secrets.length > 0 ? ['--args', String(INPUT_FDS.secretArgs)] : []),
    // bwrap's root and its /dev are tmpfs mounts the sandbox user could write (without a size
    // limit): freeze both once every mount point exists. /dev/shm stays writable, and sized.
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    ...Object.entries(plan.env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--chdir', plan.cwd,
    // The program is always sandbox-exec: the call's argv arrives on its stdin once the sandbox
    // stands, so a sandbox can be built before its call (see native/sandbox-exec.c).
    '--',
    EXEC_HELPER_DEST,
  ];
  return { file: BWRAP_PATH, argv, fds: CONTROL_FDS, env: {} };
}
