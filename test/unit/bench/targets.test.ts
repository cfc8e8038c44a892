// The benchmark's verdict on each target, from one run's figures (golden lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeTargets, type Measured } from '../../bench/targets.js';

const row = (p50: number, p99: number, perSecond: number, floorP50: number, floorPerSecond: number, errors = 0): Measured => ({ p50, p99, perSecond, errors, floorP50, floorPerSecond });

test('a run that meets every target says so, with each figure beside its target', () => {
  assert.deepEqual(
    judgeTargets({
      noNetwork1: row(6.6, 20.0, 137.5, 6.8, 147.5),
      noNetwork16: row(92.6, 221.3, 163.6, 65.4, 230.3),
      allowlist1: row(9.2, 27.3, 98.0, 6.8, 147.5),
      errors: 0,
      peakRssMiB: 89.8,
      heapTrendKiB: 4.3,
    }),
    [
      'targets (ratios to the floor in this run):',
      "  (a) p50 at concurrency 1: 0.97x the floor's (at most 1.2x): met",
      "  (a) p99 at concurrency 1: 2.94x the floor's p50 (at most 3x): met",
      "  (b) p50 at concurrency 1: 1.35x the floor's (at most 2x): met",
      '  (a) calls/s at concurrency 16: 163.6, 0 errors (at least 150, none): met; the floor gives 230.3 (0.71x)',
      '  errors over all rows: 0 (none): met',
      '  daemon peak RSS: 89.8 MiB (at most 100): met',
      '  leak check, live heap over the second half: +4.3 KiB per 1000 calls (under 50: no growth trend): met',
    ],
  );
});

test('each target missed is named, and a ratio just over its bound is not rounded into meeting it', () => {
  const lines = judgeTargets({
    noNetwork1: row(16.6, 41.2, 58.0, 13.7, 71.4),
    noNetwork16: row(246.4, 396.8, 65.7, 194.5, 80.8, 2),
    allowlist1: row(27.5, 50.5, 39.2, 13.7, 71.4),
    errors: 2,
    peakRssMiB: 100.4,
    heapTrendKiB: 116,
  });
  assert.deepEqual(lines.slice(1), [
    "  (a) p50 at concurrency 1: 1.21x the floor's (at most 1.2x): NOT met",
    "  (a) p99 at concurrency 1: 3.01x the floor's p50 (at most 3x): NOT met",
    "  (b) p50 at concurrency 1: 2.01x the floor's (at most 2x): NOT met",
    '  (a) calls/s at concurrency 16: 65.7, 2 errors (at least 150, none): NOT met; the floor gives 80.8 (0.81x), itself under 150 on this machine',
    '  errors over all rows: 2 (none): NOT met',
    '  daemon peak RSS: 100.4 MiB (at most 100): NOT met',
    '  leak check, live heap over the second half: +116.0 KiB per 1000 calls (under 50: no growth trend): NOT met',
  ]);
});

test('a run without the levels or the leak check the targets name says what it did not measure', () => {
  assert.deepEqual(judgeTargets({ errors: 0, peakRssMiB: 80, heapTrendKiB: Number.NaN }).slice(1), [
    '  (a) p50 and p99 at concurrency 1: not measured (no level 1)',
    '  (b) p50 at concurrency 1: not measured (no level 1)',
    '  (a) calls/s at concurrency 16: not measured (no level 16)',
    '  errors over all rows: 0 (none): met',
    '  daemon peak RSS: 80.0 MiB (at most 100): met',
    '  leak check: not measured (too few calls for a trend)',
  ]);
  assert.equal(judgeTargets({ errors: 0, peakRssMiB: 80 }).at(-1), '  leak check: not measured (not run)');
});
