// An output stream past its cap: what is kept, what is counted, and that nothing more is read.
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CappedOutput } from '../../../src/invocation/capped-output.js';

test('past the cap the overflow is reported once and the stream is no longer read', async () => {
  const stream = new PassThrough();
  let overflows = 0;
  const out = new CappedOutput(stream, 5, () => overflows++);
  stream.write('abc');
  stream.write('defg');
  await new Promise((r) => stream.once('close', r));
  assert.equal(stream.destroyed, true);
  // Written after the stream was given up: neither kept nor counted.
  stream.write('hij', () => undefined);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([out.text(), out.total, out.truncated, overflows], ['abcde', 7, true, 1]);
});

test('up to the cap everything is kept and the stream is read to its end', async () => {
  const stream = new PassThrough();
  const out = new CappedOutput(stream, 5, () => assert.fail('no overflow'));
  stream.end('abcde');
  await new Promise((r) => stream.once('end', r));
  assert.deepEqual([out.text(), out.total, out.truncated], ['abcde', 5, false]);
});
