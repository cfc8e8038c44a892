// Collects one output stream up to a byte cap. Past the cap nothing more is kept, so the daemon's
// memory never follows a tool's output, and nothing more is read at all: the caller decides
// what overflow means (it kills).
import type { Readable } from 'node:stream';

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte the tool wrote, kept or not. */
  total = 0;
  truncated = false;

  constructor(stream: Readable, private readonly cap: number, onOverflow: () => void) {
    stream.on('data', (chunk: Buffer) => {
      this.total += chunk.length;
      const room = this.cap - this.kept;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        this.chunks.push(part);
        this.kept += part.length;
      }
      if (this.total > this.cap && !this.truncated) {
        this.truncated = true;
        onOverflow();
        // Nothing more is read: the tool blocks on the full pipe (or gets EPIPE) until the kill
        // lands. Reading on let it go on while the kill waited for the sandbox's init to run its
        // exit: on a busy machine a tool wrote 7 MB more and ran its next command meanwhile.
        stream.destroy();
      }
    });
    stream.on('error', () => {});
  }

  text(): string {
    return Buffer.concat(this.chunks, this.kept).toString('utf8');
  }
}
