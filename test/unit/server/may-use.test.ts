// [callers]: who may see and call a tool (pure decision; the e2e test proves it with real users).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mayUse, type Caller } from '../../../src/server/caller.js';

const caller = (user: string, uid: number, groups: string[]): Caller => ({ uid, gid: uid, pid: 1, user, groups });
const alice = caller('alice', 1001, ['alice', 'toolcell', 'data']);
const root = caller('root', 0, ['root']);

test('without [callers] everyone who may connect may use the tool', () => {
  assert.equal(mayUse(undefined, alice), true);
});

test('[callers] admits the users and the members of the groups it names, and root', () => {
  assert.equal(mayUse({ users: ['alice'], groups: [] }, alice), true);
  assert.equal(mayUse({ users: [], groups: ['data'] }, alice), true);
  assert.equal(mayUse({ users: ['bob'], groups: ['ops'] }, alice), false);
  assert.equal(mayUse({ users: [], groups: [] }, alice), false, 'an empty [callers] admits nobody but root');
  assert.equal(mayUse({ users: [], groups: [] }, root), true);
});
