// Rounds of one series pooled into one row: percentiles over all their calls, rates over all their time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, type Sample } from '../../bench/measure.js';

const round = (latencies: number[], wallMs: number, machineMs: number, ownMs: number, errors = 0): Sample => ({ latencies, errors, wallMs, machineMs, ownMs });

test('rounds are pooled call by call, not averaged round by round', () => {
  // Medians 2 and 20 per round; pooled, the median of the six calls.
  const s = summarize([round([1, 2, 3], 30, 60, 6), round([10, 20, 30], 90, 240, 6, 1)]);
  assert.equal(s.p50, 10);
  assert.equal(s.p99, 30);
  assert.equal(s.perSecond, 50); // 6 calls in 120 ms
  assert.equal(s.errors, 1);
  assert.equal(s.cpuMs, 48); // (300 - 12) / 6: the machine's CPU less the bench's own
  assert.equal(s.ownCpuMs, 2);
});

test('one round is summed up as it is', () => {
  const latencies = Array.from({ length: 300 }, (_, i) => i + 1);
  const s = summarize([round(latencies, 3000, 6000, 300)]);
  assert.equal(s.p50, 151);
  assert.equal(s.p99, 298); // the third slowest of 300
  assert.equal(s.perSecond, 100);
});
