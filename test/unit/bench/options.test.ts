// The benchmark scripts' options: a wrong value is refused with the option and what it expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError, parseAssignments, parseCount, parseCounts } from '../../bench/options.js';

test('counts are whole numbers of at least the minimum', () => {
  assert.equal(parseCount('--calls', '300', 1), 300);
  assert.equal(parseCount('--gap', '0', 0), 0);
  assert.deepEqual(parseCounts('--levels', '1,4,16,64', 1), [1, 4, 16, 64]);
});

test('anything else is refused, naming the option, the value and what it expected', () => {
  const refused = (f: () => unknown, message: string) => assert.throws(f, (e: unknown) => e instanceof OptionError && e.message === message);
  refused(() => parseCount('--calls', 'abc', 1), '--calls "abc": expected a whole number of at least 1');
  refused(() => parseCount('--calls', '0', 1), '--calls "0": expected a whole number of at least 1');
  refused(() => parseCount('--gap', '-5', 0), '--gap "-5": expected a whole number of at least 0');
  refused(() => parseCount('--leak', '1e4', 0), '--leak "1e4": expected a whole number of at least 0');
  refused(() => parseCount('--calls', '2.5', 1), '--calls "2.5": expected a whole number of at least 1');
  refused(() => parseCount('--calls', '', 1), '--calls "": expected a whole number of at least 1');
  refused(() => parseCount('--calls', '99999999999999999999', 1), '--calls "99999999999999999999": expected a whole number of at least 1');
  refused(() => parseCounts('--levels', '1,,16', 1), '--levels "": expected a whole number of at least 1');
});

test('NAME=VALUE pairs keep everything after the first =, and need a name', () => {
  assert.deepEqual(parseAssignments('--env', ['A=1', 'B=x=y', 'C=']), { A: '1', B: 'x=y', C: '' });
  assert.throws(() => parseAssignments('--env', ['=1']), { message: '--env "=1": expected NAME=VALUE' });
  assert.throws(() => parseAssignments('--env', ['A']), { message: '--env "A": expected NAME=VALUE' });
});
