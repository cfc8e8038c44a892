import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { systemTreeOf } from '../../../src/plan/system-trees.js';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { describeProfileError } from '../../../src/profile/profile.js';

describe('systemTreeOf', () => {
  const ROWS: [string, string | undefined][] = [
    ['/', '/'],
    ['/etc', '/etc'],
    ['/etc/toolcell/tools', '/etc'],
    ['/usr/local/share', '/usr'],
    ['/var/lib/dpkg', '/var/lib'],
    ['/var', '/var'],
    ['/home', '/home'],
    ['/root/.ssh', '/root'],
    ['/run/toolcell/mcp.sock', '/run/toolcell'],
    ['/sys/fs/cgroup', '/sys'],
    ['/etcetera', undefined],
    ['/srv/reports', undefined],
    ['/home/alice/reports', undefined],
    ['/var/tmp/x', undefined],
    ['/tmp/work', undefined],
  ];
  for (const [path, tree] of ROWS) test(`${path} → ${tree ?? 'allowed'}`, () => assert.equal(systemTreeOf(path), tree));
});

describe('writable system trees are profile errors; read-only binds of them are fine', () => {
  const profile = (fs: string) => parseProfile('t', 't.toml', `description = "d"\ncommand = ["/bin/true"]\n[filesystem]\n${fs}\n`);
  test('writable /etc/cron.d is refused with file, line, key and why', () => {
    const r = profile('writable = ["/etc/cron.d:/out"]');
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.errors.map(describeProfileError), ['t.toml:4: filesystem.writable[0]: /etc/cron.d is in the system tree /etc, which a tool may never write']);
  });
  test('read_only /etc/ssl/certs is accepted', () => {
    assert.equal(profile('read_only = ["/etc/ssl/certs"]').ok, true);
  });
});
