// A bounded wait: the work's value or undefined at the bound, and no timer left behind either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { boundedWait } from '../../../src/linux/bounded-wait.js';

/** Timers created while `fn` runs that are still pending (neither fired nor cleared) after it. */
async function pendingTimersAfter(fn: () => Promise<unknown>): Promise<number> {
  const live = new Set<number>();
  const hook = createHook({
    init: (id, type) => void (type === 'Timeout' && live.add(id)),
    destroy: (id) => void live.delete(id),
  }).enable();
  try {
    await fn();
    await nextTurn();
    return live.size;
  } finally {
    hook.disable();
  }
}

test('the work settles first: its value, and the bound is cleared at once', async () => {
  let value: string | undefined;
  const pending = await pendingTimersAfter(async () => {
    value = await boundedWait(Promise.resolve('gone'), 60_000);
  });
  assert.equal(value, 'gone');
  assert.equal(pending, 0);
});

test('the bound passes first: undefined, and nothing is left pending', async () => {
  let value: string | undefined = 'unset';
  const started = performance.now();
  // The bound is unref'd (it must not keep a daemon alive): this keeps the test's loop alive.
  const keepAlive = setInterval(() => undefined, 1000);
  const pending = await pendingTimersAfter(async () => {
    value = await boundedWait(new Promise<string>(() => undefined), 30);
  }).finally(() => clearInterval(keepAlive));
  assert.equal(value, undefined);
  assert.ok(performance.now() - started >= 25, 'resolved before its bound');
  assert.equal(pending, 0);
});

test('work that fails fails the wait, and the bound is cleared', async () => {
  const pending = await pendingTimersAfter(async () => {
    await assert.rejects(boundedWait(Promise.reject(new Error('no such process')), 60_000), /no such process/);
  });
  assert.equal(pending, 0);
});
