// lookupUserRecord with the programs faked: which account id is asked about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupUserRecord } from '../../../src/linux/users.js';

test('a uid looked up: its groups are asked for by the name getent found, not by the uid (a user may be named 1001)', async () => {
  const calls: string[][] = [];
  const exec = async (program: string, args: string[]) => {
    calls.push([program, ...args]);
    return program === 'getent' ? 'bob:x:1001:1001:Bob,,,:/home/bob:/bin/sh\n' : 'bob wheel\n';
  };
  const record = await lookupUserRecord('1001', exec);
  assert.deepEqual(calls, [
    ['getent', 'passwd', '--', '1001'],
    ['id', '-Gn', '--', 'bob'],
  ]);
  assert.deepEqual(record, { name: 'bob', uid: 1001, gid: 1001, comment: 'Bob,,,', home: '/home/bob', shell: '/bin/sh', groups: ['bob', 'wheel'] });
});

test('a user NSS does not know: undefined, and id is not run', async () => {
  const calls: string[] = [];
  const exec = async (program: string) => {
    calls.push(program);
    throw new Error('exit status 2');
  };
  assert.equal(await lookupUserRecord('4242', exec), undefined);
  assert.deepEqual(calls, ['getent']);
});
