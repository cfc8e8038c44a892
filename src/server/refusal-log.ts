// Log lines of refusals (a connection over the limit, a call over a limit, arguments refused), per
// uid: the first few of each window are written, the rest counted and summed up in one line when
// the window ends. A caller refused in a loop would otherwise write as many lines as it likes, and
// past journald's rate limit every line of the unit is dropped, other callers' audit records too.
import type { Logger } from 'pino';

export const REFUSAL_LINES_PER_WINDOW = 20;
export const REFUSAL_WINDOW_MS = 10_000;

interface Window {
  written: number;
  suppressed: number;
}

export class RefusalLog {
  private readonly windows = new Map<number, Window>();

  /** `summary`: where the "N more" lines go (the daemon's own logger, not a connection's). */
  constructor(private readonly summary: Logger) {}

  /** Writes the line on `log` unless `uid` has had REFUSAL_LINES_PER_WINDOW already in this window. */
  write(uid: number, log: Logger, level: 'info' | 'warn', fields: object, msg: string): void {
    let w = this.windows.get(uid);
    if (!w) {
      const opened: Window = { written: 0, suppressed: 0 };
      w = opened;
      this.windows.set(uid, opened);
      setTimeout(() => this.close(uid, opened), REFUSAL_WINDOW_MS).unref();
    }
    if (w.written < REFUSAL_LINES_PER_WINDOW) {
      w.written++;
      log[level](fields, msg);
    } else {
      w.suppressed++;
    }
  }

  private close(uid: number, w: Window): void {
    this.windows.delete(uid);
    if (w.suppressed > 0) {
      this.summary.warn({ caller: { uid }, suppressed: w.suppressed, windowMs: REFUSAL_WINDOW_MS }, `refusals not logged: ${w.suppressed} more for uid ${uid}`);
    }
  }
}
