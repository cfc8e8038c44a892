// An output stream past its cap: what is kept, what is counted, and that the pipe is neither read
// nor closed until its writers are gone.
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CappedOutput } from '../../../src/invocation/capped-output.js';

const turn = () => new Promise((r) => setImmediate(r));

test('past the cap the overflow is reported once; the stream is left unread and open until the writers are gone, then closed', async () => {
  const stream = new PassThrough();
  let overflows = 0;
  let writersGone!: () => void;
  const gone = new Promise<void>((r) => (writersGone = r));
  const out = new CappedOutput(stream, 5, () => overflows++, () => gone);
  stream.write('abc');
  stream.write('defg');
  await turn();
  assert.deepEqual([stream.isPaused(), stream.destroyed], [true, false]);
  // Written after the cap: neither kept nor counted, and the pipe is still open.
  stream.write('hij');
  await turn();
  assert.equal(stream.destroyed, false);
  assert.deepEqual([out.text(), out.total, out.truncated, overflows], ['abcde', 7, true, 1]);
  writersGone();
  await new Promise((r) => stream.once('close', r));
  assert.deepEqual([out.text(), out.total, overflows], ['abcde', 7, 1]);
});

test('up to the cap everything is kept and the stream is read to its end', async () => {
  const stream = new PassThrough();
  const out = new CappedOutput(stream, 5, () => assert.fail('no overflow'), () => assert.fail('not asked'));
  stream.end('abcde');
  await new Promise((r) => stream.once('end', r));
  assert.deepEqual([out.text(), out.total, out.truncated], ['abcde', 5, false]);
});
