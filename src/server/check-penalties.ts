// After a caller's arguments made a tool's pattern check run into its time limit, that caller's
// calls of that tool are refused at once for a while: each such check holds the event loop for
// PATTERN_CHECK_MS, and a caller sending them back to back would hold it for good.

export const CHECK_PENALTY_MS = 10_000;

export class CheckPenalties {
  private readonly until = new Map<string, number>();

  /** `now`: a monotonic clock; tests pass their own. */
  constructor(private readonly now: () => number = () => performance.now()) {}

  penalize(uid: number, tool: string): void {
    const now = this.now();
    for (const [key, until] of this.until) if (until <= now) this.until.delete(key);
    this.until.set(`${uid} ${tool}`, now + CHECK_PENALTY_MS);
  }

  /** How long calls of `tool` by `uid` are still refused; 0 when they are not. */
  remainingMs(uid: number, tool: string): number {
    const until = this.until.get(`${uid} ${tool}`);
    return until === undefined ? 0 : Math.max(0, until - this.now());
  }
}
