// libc through koffi: the few calls Node does not offer. Loaded lazily so that pure code and unit
// tests never need the FFI.
import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';

interface Libc {
  closeRange: (first: number, last: number, flags: number) => number;
  pidfdOpen: (pid: number, flags: number) => number;
  pidfdSendSignal: (pidfd: number, sig: number, info: null, flags: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Buffer, len: Buffer) => number;
  waitid: (idtype: number, id: number, info: Buffer, options: number) => number;
  setns: (fd: number, nstype: number) => number;
  prctl: (option: number, a2: number, a3: number, a4: number, a5: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      closeRange: lib.func('int close_range(unsigned int first, unsigned int last, int flags)') as unknown as Libc['closeRange'],
      pidfdOpen: lib.func('int pidfd_open(int pid, unsigned int flags)') as unknown as Libc['pidfdOpen'],
      pidfdSendSignal: lib.func('int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)') as unknown as Libc['pidfdSendSignal'],
      socket: lib.func('int socket(int domain, int type, int protocol)') as unknown as Libc['socket'],
      sendto: lib.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as unknown as Libc['sendto'],
      getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *len)') as unknown as Libc['getsockopt'],
      waitid: lib.func('int waitid(int idtype, int id, void *info, int options)') as unknown as Libc['waitid'],
      setns: lib.func('int setns(int fd, int nstype)') as unknown as Libc['setns'],
      prctl: lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)') as unknown as Libc['prctl'],
    };
  }
  return libc;
}

const CLOSE_RANGE_CLOEXEC = 1 << 2;
const SIGKILL = 9;
const ESRCH = 3;

/**
 * Marks every descriptor from 3 up close-on-exec. Node's spawn closes only what Node opened itself;
 * anything the daemon inherited (a systemd socket, a shell's open directory) would otherwise reach
 * every sandbox, and bwrap passes it straight through to the tool.
 */
export function setCloexecFrom3(): void {
  const rc = load().closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  if (rc !== 0) throw new Error(`close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) failed (errno ${koffi.errno()})`);
}

const PR_SET_CHILD_SUBREAPER = 36;

/**
 * Orphans of the daemon's children become the daemon's children, not the host init's. bwrap reaps
 * the sandbox's pid 1 before it exits, but a teardown that kills both (pid 1 first, then bwrap)
 * can end bwrap first and leave that pid 1 behind; so the daemon can reap it itself and know that
 * nothing of the sandbox is left, whatever the host's init does (or, as a container's PID 1, does
 * not do) with orphans.
 */
export function becomeChildSubreaper(): void {
  if (load().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_CHILD_SUBREAPER) failed (errno ${koffi.errno()})`);
}

const ECHILD = 10;
const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;
const CLD_EXITED = 1;

/** waitid(P_PIDFD, WEXITED | WNOHANG): the siginfo (si_pid 0 while it runs); undefined for a process that is no child of ours. */
function waitPidfd(pidfd: number): Buffer | undefined {
  const info = Buffer.alloc(128); // siginfo_t: si_code at 8, si_pid at 16, si_status at 24
  if (load().waitid(P_PIDFD, pidfd, info, WEXITED | WNOHANG) === 0) return info;
  const errno = koffi.errno();
  if (errno === ECHILD) return undefined;
  throw new Error(`waitid(P_PIDFD) failed (errno ${errno})`);
}

/** The exit of the process behind a pidfd, reaping it; undefined while it runs. */
function reapPidfd(pidfd: number): { code: number | null; signal: number | null } | undefined {
  const info = waitPidfd(pidfd);
  if (!info) throw new Error(`waitid(P_PIDFD) failed (errno ${ECHILD}: not a child of the daemon)`);
  if (info.readInt32LE(16) === 0) return undefined;
  const status = info.readInt32LE(24);
  return info.readInt32LE(8) === CLD_EXITED ? { code: status, signal: null } : { code: null, signal: status };
}

/**
 * A handle on a process that cannot be confused with a later process reusing its pid. pidfds are
 * always close-on-exec, so no sandbox inherits one.
 */
export class Pidfd {
  private fd: number | undefined;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** undefined when the process is already gone (ESRCH). */
  static open(pid: number): Pidfd | undefined {
    const fd = load().pidfdOpen(pid, 0);
    if (fd >= 0) return new Pidfd(fd);
    const errno = koffi.errno();
    if (errno === ESRCH) return undefined;
    throw new Error(`pidfd_open(${pid}) failed (errno ${errno})`);
  }

  /** SIGKILL; a process that already exited is not an error. */
  kill(): void {
    if (this.fd === undefined) return;
    const rc = load().pidfdSendSignal(this.fd, SIGKILL, null, 0);
    if (rc !== 0 && koffi.errno() !== ESRCH) throw new Error(`pidfd_send_signal(SIGKILL) failed (errno ${koffi.errno()})`);
  }

  /** Reaps the process if it has exited (it must be a child of the daemon); undefined while it runs. */
  reap(): { code: number | null; signal: number | null } | undefined {
    if (this.fd === undefined) throw new Error('reap on a closed pidfd');
    return reapPidfd(this.fd);
  }

  /**
   * For a process the daemon may have adopted as a subreaper: 'gone' once reaped here, or when it
   * is no child of the daemon (so another process reaps it); 'running' until it exits.
   */
  reapAdopted(): 'gone' | 'running' {
    if (this.fd === undefined) throw new Error('reap on a closed pidfd');
    const info = waitPidfd(this.fd);
    return info && info.readInt32LE(16) === 0 ? 'running' : 'gone';
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

/**
 * One datagram to a Unix socket path ("@name" for the abstract namespace): what sd_notify(3)
 * does. Node's dgram module has no AF_UNIX, and spawning systemd-notify would make systemd see a
 * short-lived child (NotifyAccess=all, and a race when it exits before systemd reads its cgroup).
 */
export function sendUnixDatagram(path: string, message: string): void {
  const name = Buffer.from(path.startsWith('@') ? `\0${path.slice(1)}` : path);
  if (name.length >= SUN_PATH_MAX) throw new Error(`socket path too long: ${path}`);
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const c = load();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM) failed (errno ${koffi.errno()})`);
  try {
    const data = Buffer.from(message);
    // The abstract name is exactly its bytes; a path name carries its NUL.
    const len = 2 + name.length + (path.startsWith('@') ? 0 : 1);
    if (c.sendto(fd, data, data.length, MSG_NOSIGNAL, addr, len) < 0) throw new Error(`sendto(${path}) failed (errno ${koffi.errno()})`);
  } finally {
    closeSync(fd);
  }
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Who is on the other end of a connected Unix socket, as the kernel recorded it at connect():
 * not what the client says about itself.
 */
export function peerCredentials(fd: number): PeerCredentials {
  const ucred = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(ucred.length);
  if (load().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, len) !== 0) throw new Error(`getsockopt(SO_PEERCRED) failed (errno ${koffi.errno()})`);
  return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
}

const CLONE_NEWNET = 0x40000000;

/** The daemon's own network namespace, opened once (close-on-exec, as every fd Node opens). */
let ownNetns: number | undefined;

/**
 * Runs `open` with the calling thread in the network namespace `netnsFd` holds, and switches
 * straight back: for making a netlink socket that belongs to a sandbox's namespace (a socket
 * stays with the namespace it was made in, so nothing later needs another switch).
 */
export function inNetworkNamespace<T>(netnsFd: number, open: () => T): T {
  const c = load();
  ownNetns ??= openSync('/proc/thread-self/ns/net', 'r');
  if (c.setns(netnsFd, CLONE_NEWNET) !== 0) throw new Error(`setns(sandbox network namespace) failed (errno ${koffi.errno()})`);
  try {
    return open();
  } finally {
    // Ordering: back into the daemon's namespace before anything else runs on this thread. A
    // thread left in a sandbox's namespace must not go on serving: end the process instead.
    if (c.setns(ownNetns, CLONE_NEWNET) !== 0) {
      process.stderr.write(`toolcell: setns back into the daemon's network namespace failed (errno ${koffi.errno()}); aborting\n`);
      process.abort();
    }
  }
}
