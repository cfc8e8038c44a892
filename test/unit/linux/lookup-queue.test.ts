// Host-name lookups hold threads of libuv's pool, which every spawn and file operation of the daemon
// shares: at most MAX_LOOKUPS at once, one per name, however long the system's resolver takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { LookupQueue, MAX_LOOKUPS } from '../../../src/linux/resolve-hosts.js';

test(`at most ${MAX_LOOKUPS} lookups run at once, the same name is asked once, and a slot passes to the next name when one ends`, async () => {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const queue = new LookupQueue(
    (name) =>
      new Promise((resolve) => {
        started.push(name);
        finish.set(name, () => resolve([{ address: '192.0.2.1', family: 4 }]));
      }),
  );
  // A DNS outage: every lookup hangs; calls keep asking for three names, one of them many times.
  const asked = ['a.test', 'a.test', 'b.test', 'c.test', 'a.test', 'c.test'].map((n) => queue.addresses(n));
  await tick();
  assert.deepEqual(started, ['a.test', 'b.test']);
  finish.get('a.test')!();
  await tick();
  await tick();
  assert.deepEqual(started, ['a.test', 'b.test', 'c.test'], 'c.test took the slot a.test gave back');
  finish.get('b.test')!();
  finish.get('c.test')!();
  assert.equal((await Promise.all(asked)).length, 6);
  // Done lookups are not kept: the next call asks again.
  void queue.addresses('a.test');
  await tick();
  assert.deepEqual(started, ['a.test', 'b.test', 'c.test', 'a.test']);
  finish.get('a.test')!();
});
