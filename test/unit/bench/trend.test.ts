// The leak check's trend: a steady growth is found whole, one reading off cannot make one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trend } from '../../bench/trend.js';

test('a series that grows steadily gives its rate, one that is flat gives none', () => {
  assert.equal(trend([1, 2, 3, 4, 5], [10, 12, 14, 16, 18]), 2);
  assert.equal(trend([6, 7, 8, 9, 10], [5, 5, 5, 5, 5]), 0);
  assert.equal(trend([0, 2], [1, 0]), -0.5);
});

test('one reading off its neighbours does not make a trend, where a least-squares fit would', () => {
  // The live heap (MiB) after tenths 6 to 10 of a leak check, one reading 0.2 MiB up: least squares gives +0.025 MiB a tenth.
  const slope = trend([6, 7, 8, 9, 10], [18.66, 18.72, 18.68, 18.87, 18.7]);
  assert.ok(Math.abs(slope - 0.01) < 1e-9, String(slope));
});

test('a leak under noise is still found', () => {
  // 0.1 MiB a tenth with readings up and down by 0.05.
  const ys = [0, 0.15, 0.15, 0.35, 0.35, 0.55].map((y, i) => 20 + y);
  assert.ok(trend([0, 1, 2, 3, 4, 5], ys) >= 0.09);
});

test('too few readings give no trend', () => {
  assert.ok(Number.isNaN(trend([], [])));
  assert.ok(Number.isNaN(trend([3], [1])));
});
