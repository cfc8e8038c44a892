// Log lines of refusals (a connection over the limit, a call over a limit, arguments refused), per
// uid and kind: the first few of each window are written, the rest counted and summed up in one
// line when the window ends. A caller refused in a loop would otherwise write as many lines as it
// likes, and past journald's rate limit every line of the unit is dropped, other callers' audit
// records too. Per kind, so that cheap refusals of one kind cannot use up the lines of another
// (connections refused in a loop, then option injections that would show only as a count).
import type { Logger } from 'pino';

export const REFUSAL_LINES_PER_WINDOW = 20;
export const REFUSAL_WINDOW_MS = 10_000;

interface Window {
  readonly uid: number;
  readonly kind: string;
  written: number;
  suppressed: number;
  readonly timer: NodeJS.Timeout;
}

export class RefusalLog {
  private readonly windows = new Map<string, Window>();

  /** `summary`: where the "N more" lines go (the daemon's own logger, not a connection's). */
  constructor(private readonly summary: Logger) {}

  /**
   * Writes the line on `log` unless `uid` has had REFUSAL_LINES_PER_WINDOW of `kind` already in
   * this window. `kind` names the refusal and, for a call, its tool ("arguments python").
   */
  write(uid: number, kind: string, log: Logger, level: 'info' | 'warn', fields: object, msg: string): void {
    const key = `${uid} ${kind}`;
    let w = this.windows.get(key);
    if (!w) {
      w = { uid, kind, written: 0, suppressed: 0, timer: setTimeout(() => this.close(key), REFUSAL_WINDOW_MS).unref() };
      this.windows.set(key, w);
    }
    if (w.written < REFUSAL_LINES_PER_WINDOW) {
      w.written++;
      log[level](fields, msg);
    } else {
      w.suppressed++;
    }
  }

  /** Sums up every window still open (the daemon stops): no count is lost. */
  flush(): void {
    for (const key of [...this.windows.keys()]) this.close(key);
  }

  private close(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    clearTimeout(w.timer);
    if (w.suppressed > 0) {
      this.summary.warn(
        { caller: { uid: w.uid }, refusal: w.kind, suppressed: w.suppressed, windowMs: REFUSAL_WINDOW_MS },
        `refusals not logged: ${w.suppressed} more of "${w.kind}" for uid ${w.uid}`,
      );
    }
  }
}
