// libc through koffi: the few calls Node does not offer. Loaded lazily so that pure code and unit
// tests never need the FFI.
import { closeSync } from 'node:fs';
import koffi from 'koffi';

interface Libc {
  closeRange: (first: number, last: number, flags: number) => number;
  pidfdOpen: (pid: number, flags: number) => number;
  pidfdSendSignal: (pidfd: number, sig: number, info: null, flags: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      closeRange: lib.func('int close_range(unsigned int first, unsigned int last, int flags)') as unknown as Libc['closeRange'],
      pidfdOpen: lib.func('int pidfd_open(int pid, unsigned int flags)') as unknown as Libc['pidfdOpen'],
      pidfdSendSignal: lib.func('int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)') as unknown as Libc['pidfdSendSignal'],
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

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
