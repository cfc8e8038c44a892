// Admission: the global limit with its bounded queue, and the per-caller limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Admission, type Admitted, type Refusal } from '../../../src/server/admission.js';

const admitted = (r: Admitted | Refusal): Admitted => {
  assert.ok('release' in r, JSON.stringify(r));
  return r;
};

test('a caller over max_calls_per_caller is refused at once, naming the limit; others go on', async () => {
  const a = new Admission({ max_calls: 8, max_queued_calls: 8, max_calls_per_caller: 2 });
  const one = admitted(await a.enter(1001, 'alice'));
  admitted(await a.enter(1001, 'alice'));
  assert.deepEqual(await a.enter(1001, 'alice'), { limit: 'max_calls_per_caller', value: 2, message: 'alice already has 2 calls running (max_calls_per_caller); call again when one has finished' });
  admitted(await a.enter(1002, 'bob'));
  one.release();
  one.release(); // twice is once
  admitted(await a.enter(1001, 'alice'));
  assert.ok('limit' in (await a.enter(1001, 'alice')));
});

test('over max_calls calls wait in order; a full queue refuses; a cancelled wait leaves', async () => {
  const a = new Admission({ max_calls: 1, max_queued_calls: 2, max_calls_per_caller: 10 });
  const first = admitted(await a.enter(1, 'u1'));
  const order: string[] = [];
  const second = a.enter(2, 'u2').then((r) => (order.push('second'), admitted(r)));
  const cancel = new AbortController();
  const third = a.enter(3, 'u3', cancel.signal);
  assert.deepEqual(await a.enter(4, 'u4'), { limit: 'max_queued_calls', value: 2, message: 'toolcell is busy: 1 calls running and 2 waiting (max_calls, max_queued_calls); call again later' });
  cancel.abort();
  assert.equal(((await third) as Refusal).limit, 'max_calls');
  first.release();
  (await second).release();
  assert.deepEqual(order, ['second']);
  admitted(await a.enter(5, 'u5'));
});

test('a call whose signal is already aborted is refused at once, without taking a place in the queue', async () => {
  const a = new Admission({ max_calls: 1, max_queued_calls: 1, max_calls_per_caller: 1 });
  const first = admitted(await a.enter(1, 'u1'));
  const cancel = new AbortController();
  cancel.abort();
  const refused = await Promise.race([a.enter(2, 'u2', cancel.signal), tick('waiting' as const)]);
  assert.deepEqual(refused, { limit: 'max_calls', value: 1, message: 'the call was cancelled while it waited for a free slot (max_calls)' });
  // Nothing of u2's stayed queued: the freed slot goes to the next caller, and u2 (one call at most) may call again.
  first.release();
  const third = admitted(await a.enter(3, 'u3'));
  const again = a.enter(2, 'u2');
  third.release();
  admitted(await again);
});
