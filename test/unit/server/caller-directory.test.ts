// Who a connection's peer is, looked up once per uid for a while: a client that connects and closes
// in a loop must not make the daemon start two processes per connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CALLER_LOOKUP_TTL_MS, CallerDirectory } from '../../../src/server/caller.js';
import type { UserRecord } from '../../../src/linux/users.js';

const cred = (uid: number, pid = 100) => ({ uid, gid: uid, pid });

test('connections of one uid share one lookup, in flight and for the TTL; another uid gets its own', async () => {
  let clock = 1_000_000;
  const asked: string[] = [];
  const dir = new CallerDirectory(
    async (name) => {
      asked.push(name);
      return { name: `user${name}`, uid: Number(name), gid: Number(name), groups: ['g'] } as unknown as UserRecord;
    },
    () => clock,
  );
  const callers = await Promise.all(Array.from({ length: 50 }, (_, i) => dir.identify(cred(1001, 100 + i))));
  assert.deepEqual(asked, ['1001']);
  assert.deepEqual(callers[7], { uid: 1001, gid: 1001, pid: 107, user: 'user1001', groups: ['g'] });
  await dir.identify(cred(1002));
  clock += CALLER_LOOKUP_TTL_MS - 1;
  await dir.identify(cred(1001));
  assert.deepEqual(asked, ['1001', '1002']);
  clock += 1;
  await dir.identify(cred(1001));
  assert.deepEqual(asked, ['1001', '1002', '1001'], 'asked again once the TTL is over (a change of groups counts then)');
});

test('a failed lookup, or one that found no user, is not kept; an unknown uid is "uid N" without groups', async () => {
  let fail = true;
  let asked = 0;
  const dir = new CallerDirectory(async () => {
    asked++;
    if (fail) throw new Error('getent: timed out');
    return undefined;
  });
  await assert.rejects(dir.identify(cred(1003)), /getent: timed out/);
  fail = false;
  assert.deepEqual(await dir.identify(cred(1003)), { uid: 1003, gid: 1003, pid: 100, user: 'uid 1003', groups: [] });
  await dir.identify(cred(1003));
  assert.equal(asked, 3);
});
