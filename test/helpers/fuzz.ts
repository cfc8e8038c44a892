// Seeded randomness for fuzz tests, so that a failure reproduces: every fuzz test prints its seed,
// and TOOLCELL_FUZZ_SEED=N replays it. Also the daemon's resident memory, read from /proc.
import { readFileSync } from 'node:fs';

/** The seed of this run: TOOLCELL_FUZZ_SEED when set, else a fixed default (CI runs are repeatable). */
export const FUZZ_SEED = Number(process.env.TOOLCELL_FUZZ_SEED) || 0x7c11;

/** mulberry32: small, fast, good enough to pick test inputs; never for anything secret. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) / 1024;
}

/** Samples a process's RSS every `intervalMs` until stop(); keeps the peak. */
export class RssWatch {
  peak = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number, intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }
  sample(): number {
    try {
      const now = rssMiB(this.pid);
      this.peak = Math.max(this.peak, now);
      return now;
    } catch {
      return this.peak; // the process is gone; the test asserts that separately
    }
  }
  stop(): number {
    clearInterval(this.timer);
    return this.sample();
  }
}
