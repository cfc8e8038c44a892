import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { identityProblems, identityWarnings } from '../../../src/profile/check-identity.js';
import type { UserRecord } from '../../../src/linux/users.js';

const OK: UserRecord = { name: 'tc-x', uid: 990, gid: 990, comment: 'toolcell tool tc-x', home: '/nonexistent', shell: '/usr/sbin/nologin', groups: ['tc-x'] };

const ROWS: readonly { name: string; record: UserRecord | undefined; others?: string[]; sameGroup?: string[]; problems: string[] }[] = [
  { name: 'a system user of its own is fine', record: OK, problems: [] },
  { name: '/bin/false is not a login shell', record: { ...OK, shell: '/bin/false' }, problems: [] },
  { name: 'missing user', record: undefined, problems: ['user "tc-x" does not exist (create it with "toolcell users sync")'] },
  { name: 'root by uid', record: { ...OK, uid: 0 }, problems: ['user "tc-x" is root (uid 0, gid 990)'] },
  { name: 'root by gid', record: { ...OK, gid: 0 }, problems: ['user "tc-x" is root (uid 990, gid 0)'] },
  { name: 'login shell', record: { ...OK, shell: '/bin/bash' }, problems: ['user "tc-x" has a login shell (/bin/bash)'] },
  { name: 'empty shell means /bin/sh', record: { ...OK, shell: '' }, problems: ['user "tc-x" has a login shell (empty, which means /bin/sh)'] },
  {
    name: 'home under /home',
    record: { ...OK, home: '/home/alice' },
    problems: ['user "tc-x" has a home under /home or /root (/home/alice): that is a person\'s account'],
  },
  { name: 'home /root', record: { ...OK, home: '/root' }, problems: ['user "tc-x" has a home under /home or /root (/root): that is a person\'s account'] },
  { name: 'sudo and docker', record: { ...OK, groups: ['tc-x', 'sudo', 'docker'] }, problems: ['user "tc-x" is in privileged group(s) sudo, docker'] },
  { name: 'the client group', record: { ...OK, groups: ['tc-x', 'toolcell'] }, problems: ['user "tc-x" is in privileged group(s) toolcell'] },
  {
    name: 'shared with another tool',
    record: OK,
    others: ['shell'],
    problems: ['user "tc-x" is also the user of shell; every tool needs a user of its own'],
  },
  {
    name: 'a primary group shared with another tool\'s user (nobody and _apt share nogroup)',
    record: OK,
    sameGroup: ['python'],
    problems: ['user "tc-x" has the primary group (gid 990) of the user of python as well; every tool needs a group of its own'],
  },
  {
    name: 'every problem at once',
    record: { ...OK, uid: 0, shell: '/bin/sh', groups: ['wheel'] },
    others: ['a', 'b'],
    problems: [
      'user "tc-x" is root (uid 0, gid 990)',
      'user "tc-x" has a login shell (/bin/sh)',
      'user "tc-x" is in privileged group(s) wheel',
      'user "tc-x" is also the user of a, b; every tool needs a user of its own',
    ],
  },
];

describe('identityProblems', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      assert.deepEqual(identityProblems('tc-x', row.record, row.others ?? [], 'toolcell', row.sameGroup), row.problems);
    });
  }
});

describe('identityWarnings', () => {
  test('a user toolcell made (users sync, sysusers.d) draws no warning', () => {
    assert.deepEqual(identityWarnings('tc-x', OK), []);
    assert.deepEqual(identityWarnings('tc-python', { ...OK, comment: 'toolcell tool python' }), []);
  });

  test('an account toolcell did not make (a service\'s) is flagged', () => {
    assert.deepEqual(identityWarnings('www-data', { ...OK, name: 'www-data', comment: 'www-data' }), [
      'user "www-data" was not made for toolcell (its comment is "www-data"): whatever else runs as it or belongs to it is within the tool\'s reach; name a user of the tool\'s own and run "toolcell users sync"',
    ]);
    assert.equal(identityWarnings('x', { ...OK, comment: 'toolcell toolbox' }).length, 1);
  });
});
