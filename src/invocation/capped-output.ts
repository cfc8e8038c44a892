// Collects one output stream up to a byte cap. Past the cap nothing more is kept, so the daemon's
// memory never follows a tool's output, and nothing more is read until the writers are dead: the
// caller decides what overflow means (it kills).
import type { Readable } from 'node:stream';

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte the tool wrote up to the chunk that crossed the cap, kept or not. */
  total = 0;
  truncated = false;

  /** `writersGone()` resolves once nothing can write to the stream any more (the sandbox is dead). */
  constructor(stream: Readable, private readonly cap: number, onOverflow: () => void, writersGone: () => Promise<unknown>) {
    stream.on('data', (chunk: Buffer) => {
      if (this.truncated) return;
      this.total += chunk.length;
      const room = this.cap - this.kept;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        this.chunks.push(part);
        this.kept += part.length;
      }
      if (this.total > this.cap) {
        this.truncated = true;
        // Ordering: the pipe stays open but unread, so the tool blocks on it until the kill lands.
        // Reading on let it write megabytes more while the kill waited for the sandbox's init;
        // closing the pipe gave it EPIPE, and a script went on to its next command.
        stream.pause();
        onOverflow();
        void writersGone().then(() => stream.destroy());
      }
    });
    stream.on('error', () => {});
  }

  text(): string {
    return Buffer.concat(this.chunks, this.kept).toString('utf8');
  }
}
