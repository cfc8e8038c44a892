// A call's abort signal, linked to the request's and the daemon's shutdown signal: it follows
// them while the call runs and leaves nothing behind on them afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { linkSignals } from '../../../src/server/linked-signal.js';

test('the linked signal aborts with the reason of the source that aborted, and detaches from the others', () => {
  const request = new AbortController();
  const shutdown = new AbortController();
  const linked = linkSignals([request.signal, shutdown.signal]);
  assert.equal(linked.signal.aborted, false);
  shutdown.abort('shutdown');
  assert.equal(linked.signal.aborted, true);
  assert.equal(linked.signal.reason, 'shutdown');
  assert.equal(getEventListeners(request.signal, 'abort').length, 0);
  request.abort('cancelled');
  assert.equal(linked.signal.reason, 'shutdown');
});

test('a source aborted already aborts the linked signal at once, with its reason, and adds no listener', () => {
  const request = new AbortController();
  const shutdown = new AbortController();
  shutdown.abort('shutdown');
  const linked = linkSignals([request.signal, shutdown.signal]);
  assert.equal(linked.signal.aborted, true);
  assert.equal(linked.signal.reason, 'shutdown');
  assert.equal(getEventListeners(request.signal, 'abort').length, 0);
  linked.unlink();
});

test('after unlink a source that aborts no longer reaches the linked signal', () => {
  const request = new AbortController();
  const linked = linkSignals([request.signal]);
  linked.unlink();
  linked.unlink(); // twice is once
  request.abort('cancelled');
  assert.equal(linked.signal.aborted, false);
});

test('calls linked to the long-lived shutdown signal and unlinked leave nothing on it', () => {
  // AbortSignal.any would leave one WeakRef per call in the shutdown signal's dependants, never
  // pruned on Node 20 and 22 (nodejs/node#55351): 10,000 of them here.
  const shutdown = new AbortController();
  const symbolsBefore = Object.getOwnPropertySymbols(shutdown.signal).length;
  for (let i = 0; i < 10_000; i++) {
    const request = new AbortController();
    const linked = linkSignals([request.signal, shutdown.signal]);
    linked.signal.addEventListener('abort', () => undefined);
    linked.unlink();
  }
  assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
  const dependants = Object.getOwnPropertySymbols(shutdown.signal).filter((s) => s.description === 'kDependantSignals');
  assert.deepEqual(dependants.map((s) => (shutdown.signal as unknown as Record<symbol, Set<unknown>>)[s]?.size ?? 0), dependants.map(() => 0));
  assert.equal(Object.getOwnPropertySymbols(shutdown.signal).length, symbolsBefore);
});
