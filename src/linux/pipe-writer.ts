// The daemon's end of a pipe that a child reads once: sandbox-exec's argv, bwrap's seccomp filter
// and secret inputs, the byte that releases a held sandbox. Written with one write(2) on a
// non-blocking descriptor and closed, not through a net.Socket: a Socket is four more system calls
// (fstat, ioctl, epoll_ctl, a failed shutdown) and a stream's events on the event loop, for three
// pipes a sandbox. What the pipe cannot take at once (more than its 64 KiB) goes on through a Socket.
import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';

export class PipeWriter {
  private fd: number | undefined;
  private rest: Socket | undefined;

  /** `fd`: the write end, non-blocking (native/spawn.ts pipe(true)); the writer owns it. */
  constructor(fd: number) {
    this.fd = fd;
  }

  /** Writes `data` and closes the pipe; once only, later calls do nothing. */
  end(data: Buffer | string = ''): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let written = 0;
    try {
      if (bytes.length > 0) written = writeSync(fd, bytes);
    } catch (e) {
      // EPIPE (or any other failure): the child reads short input and fails on its own; the
      // daemon has nothing left to write for.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return closeSync(fd);
    }
    if (written === bytes.length) return closeSync(fd);
    // The Socket owns the descriptor from here, and closes it once the rest is written.
    this.rest = new Socket({ fd, readable: false, writable: true });
    this.rest.on('error', () => undefined);
    this.rest.end(bytes.subarray(written));
  }

  /** Closes the pipe, written or not: for when its reader is gone (the child exited). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.rest?.destroy();
  }
}
