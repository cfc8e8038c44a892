// Host trees a tool may never write: the system itself, the kernel's interfaces, root's home, the
// package databases, and toolcell's own configuration, state and socket. Pure.

/** Refused as a writable path and anywhere below it. */
const TREES = ['/etc', '/usr', '/boot', '/proc', '/sys', '/dev', '/root', '/var/lib', '/bin', '/sbin', '/lib', '/lib64', '/run/toolcell', '/usr/lib/toolcell', '/var/lib/toolcell'];
/** Refused only exactly: everything is below "/", and /var or /run as a whole is still the system's. */
const EXACT = ['/', '/var', '/run', '/home', '/srv', '/opt', '/tmp', '/mnt', '/media'];

/** The protected tree that `path` is or lies in, or undefined when a tool may write there. */
export function systemTreeOf(path: string): string | undefined {
  if (EXACT.includes(path)) return path;
  return TREES.find((t) => path === t || path.startsWith(`${t}/`));
}

/**
 * Never bound, not even read-only: the host's live kernel state. Its /proc shows every host
 * process, other sandboxes' included (their argv, their roots through /proc/PID/root); the sandbox
 * has a /proc and a /dev of its own.
 */
const HOST_STATE_TREES = ['/proc', '/sys', '/dev'];

/** The host-state tree that `path` is or lies in, or undefined. */
export function hostStateTreeOf(path: string): string | undefined {
  return HOST_STATE_TREES.find((t) => path === t || path.startsWith(`${t}/`));
}
