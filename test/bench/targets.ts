// The benchmark's targets (issue 10), judged from one run's figures: each line says what was
// measured, the target, and whether it was met. Pure: bench.ts gathers the figures.

/** A row of calls and the floor's row at the same concurrency. */
export interface Measured {
  readonly p50: number;
  readonly p99: number;
  readonly perSecond: number;
  readonly errors: number;
  readonly floorP50: number;
  readonly floorPerSecond: number;
}

export interface RunFigures {
  /** (a) no network, back to back, at concurrency 1 and 16 (absent when the run had no such level). */
  readonly noNetwork1?: Measured;
  readonly noNetwork16?: Measured;
  /** (b) one-entry allowlist, back to back, at concurrency 1. */
  readonly allowlist1?: Measured;
  /** Errors over every row of calls. */
  readonly errors: number;
  /** The daemon's peak RSS over the rows, MiB. */
  readonly peakRssMiB: number;
  /** The leak check's live heap growth over its second half, KiB per 1000 calls (absent without one). */
  readonly heapTrendKiB?: number;
}

/**
 * A live heap that grows by less than this over the leak check's second half shows no trend: V8
 * recompiles code after full collections, which adds 5-25 KiB per 1000 calls in runs without a
 * leak, while the 58 bytes a call that AbortSignal.any kept (src/server/linked-signal.ts) showed
 * as +116.
 */
export const HEAP_TREND_LIMIT_KIB = 50;

/** Calls per second at concurrency 16, no network (issue 10). */
const CALLS_PER_SECOND_AT_16 = 150;

const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
const x = (ratio: number) => `${ratio.toFixed(2)}x`;

export function judgeTargets(f: RunFigures): string[] {
  const missing = (what: string, why: string) => `  ${what}: not measured (${why})`;
  const lines = ['targets (ratios to the floor in this run):'];
  const c1 = f.noNetwork1;
  if (c1) {
    lines.push(`  (a) p50 at concurrency 1: ${x(c1.p50 / c1.floorP50)} the floor's (at most 1.2x): ${verdict(c1.p50 <= 1.2 * c1.floorP50)}`);
    lines.push(`  (a) p99 at concurrency 1: ${x(c1.p99 / c1.floorP50)} the floor's p50 (at most 3x): ${verdict(c1.p99 <= 3 * c1.floorP50)}`);
  } else {
    lines.push(missing('(a) p50 and p99 at concurrency 1', 'no level 1'));
  }
  const b1 = f.allowlist1;
  if (b1) lines.push(`  (b) p50 at concurrency 1: ${x(b1.p50 / b1.floorP50)} the floor's (at most 2x): ${verdict(b1.p50 <= 2 * b1.floorP50)}`);
  else lines.push(missing('(b) p50 at concurrency 1', 'no level 1'));
  const c16 = f.noNetwork16;
  if (c16) {
    const met = c16.perSecond >= CALLS_PER_SECOND_AT_16 && c16.errors === 0;
    // Where bare bwrap itself stays under the target, no sandbox can meet it on this machine.
    const floorUnder = c16.floorPerSecond < CALLS_PER_SECOND_AT_16 ? `, itself under ${CALLS_PER_SECOND_AT_16} on this machine` : '';
    lines.push(`  (a) calls/s at concurrency 16: ${c16.perSecond.toFixed(1)}, ${c16.errors} errors (at least ${CALLS_PER_SECOND_AT_16}, none): ${verdict(met)}; the floor gives ${c16.floorPerSecond.toFixed(1)} (${x(c16.perSecond / c16.floorPerSecond)})${floorUnder}`);
  } else {
    lines.push(missing('(a) calls/s at concurrency 16', 'no level 16'));
  }
  lines.push(`  errors over all rows: ${f.errors} (none): ${verdict(f.errors === 0)}`);
  lines.push(`  daemon peak RSS: ${f.peakRssMiB.toFixed(1)} MiB (at most 100): ${verdict(f.peakRssMiB <= 100)}`);
  if (f.heapTrendKiB !== undefined && Number.isFinite(f.heapTrendKiB)) {
    lines.push(`  leak check, live heap over the second half: ${f.heapTrendKiB >= 0 ? '+' : ''}${f.heapTrendKiB.toFixed(1)} KiB per 1000 calls (under ${HEAP_TREND_LIMIT_KIB}: no growth trend): ${verdict(f.heapTrendKiB < HEAP_TREND_LIMIT_KIB)}`);
  } else {
    lines.push(missing('leak check', f.heapTrendKiB === undefined ? 'not run' : 'too few calls for a trend'));
  }
  return lines;
}
