import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeSize, durationTooLong, parseDuration, parseSize } from '../../../src/plan/parse-units.js';

const K = 1024;
const M = 1024 ** 2;
const G = 1024 ** 3;

describe('parseSize', () => {
  const valid: readonly [string, number][] = [
    ['4096', 4096],
    ['1', 1],
    ['512K', 512 * K],
    ['64M', 64 * M],
    ['1G', G],
    ['16G', 16 * G],
    [' 8M ', 8 * M],
    ['007K', 7 * K],
  ];
  for (const [text, bytes] of valid) {
    test(`${JSON.stringify(text)} → ${bytes}`, () => assert.equal(parseSize(text), bytes));
  }
  const invalid = ['', '0', '0M', '12X', 'M', '64m', '64k', '64MB', '64 M', '-1', '-1M', '1.5M', '0x10', '1e3', '1T', '9999999999999999G'];
  for (const text of invalid) {
    test(`${JSON.stringify(text)} → undefined`, () => assert.equal(parseSize(text), undefined));
  }
});

describe('parseDuration', () => {
  const valid: readonly [string, number][] = [
    ['30s', 30_000],
    ['500ms', 500],
    ['1ms', 1],
    ['2m', 120_000],
    ['90s', 90_000],
    [' 5s ', 5000],
  ];
  for (const [text, ms] of valid) {
    test(`${JSON.stringify(text)} → ${ms}`, () => assert.equal(parseDuration(text), ms));
  }
  const invalid = ['', '30', '0s', '0ms', 's', '1.5s', '-1s', '30S', '1h', '1d', '30 s', '5sec', '1m30s', '99999999999999999m'];
  for (const text of invalid) {
    test(`${JSON.stringify(text)} → undefined`, () => assert.equal(parseDuration(text), undefined));
  }
});

describe('durationTooLong', () => {
  test('up to 2^31-1 ms (the longest setTimeout) is fine', () => {
    for (const ms of [1, 30_000, 35791 * 60_000, 2 ** 31 - 1]) assert.equal(durationTooLong(ms, `${ms}ms`), undefined);
  });
  test('longer says the limit in ms and days, and the value as written', () => {
    assert.equal(durationTooLong(2 ** 31, '2147483648ms'), 'must be at most 2147483647 ms (24.8 days, the longest a timer can wait), got "2147483648ms"');
    assert.equal(durationTooLong(36000 * 60_000, 2160000000), 'must be at most 2147483647 ms (24.8 days, the longest a timer can wait), got 2160000000');
  });
});

describe('describeSize', () => {
  const rows: readonly [number, string][] = [
    [G, '1G'],
    [3 * G, '3G'],
    [M, '1M'],
    [64 * M, '64M'],
    [1536 * M, '1536M'],
    [K, '1K'],
    [1536, '1536'],
    [512 * K, '512K'],
    [1000, '1000'],
    [1, '1'],
    [M + K, '1025K'],
  ];
  for (const [bytes, text] of rows) {
    test(`${bytes} → ${text}`, () => assert.equal(describeSize(bytes), text));
  }
  test('round trip: parseSize(describeSize(n)) === n', () => {
    for (const n of [1, 1000, 4096, 1536, 64 * M, M + K, 5 * G]) assert.equal(parseSize(describeSize(n)), n);
  });
});
