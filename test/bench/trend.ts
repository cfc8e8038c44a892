// The leak check's trend: how fast a series of readings grows. The median of the slopes between
// every two readings (Theil-Sen), not a least-squares fit, so that one reading off by a moment's
// state (a pool being rebuilt, a connection's buffers) cannot make a trend on its own: in one run
// a single live-heap reading 0.2 MiB above its neighbours took the least-squares slope over the
// leak check's second half from +10 to +26 KiB per 1000 calls.

/** Growth of ys per unit of xs: the median of the pairwise slopes; NaN with fewer than 2 points. */
export function trend(xs: readonly number[], ys: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) if (xs[j] !== xs[i]) slopes.push((ys[j]! - ys[i]!) / (xs[j]! - xs[i]!));
  }
  if (slopes.length === 0) return Number.NaN;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}
