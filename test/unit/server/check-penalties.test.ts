// A caller whose arguments stopped a tool's pattern check is refused that tool for a while.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECK_PENALTY_MS, CheckPenalties } from '../../../src/server/check-penalties.js';

test('the penalty holds for its uid and tool only, and ends', () => {
  let clock = 5_000;
  const penalties = new CheckPenalties(() => clock);
  penalties.penalize(1001, 'search');
  assert.equal(penalties.remainingMs(1001, 'search'), CHECK_PENALTY_MS);
  assert.equal(penalties.remainingMs(1001, 'http-get'), 0);
  assert.equal(penalties.remainingMs(1002, 'search'), 0);
  clock += CHECK_PENALTY_MS - 1;
  assert.equal(penalties.remainingMs(1001, 'search'), 1);
  clock += 1;
  assert.equal(penalties.remainingMs(1001, 'search'), 0);
});
