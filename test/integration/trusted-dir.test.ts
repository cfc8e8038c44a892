// The directories the daemon trusts with root's authority (its profiles, its socket's directory):
// whoever may change one, or a directory on the way to it, is refused with the reason.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { untrustedDirReason, untrustedFileReason } from '../../src/linux/trusted-dir.js';
import { loadProfiles } from '../../src/profile/load-profiles.js';
import { describeProfileError } from '../../src/profile/profile.js';
import { ListenError, listenSocket } from '../../src/server/listen-socket.js';

const skip = process.getuid?.() === 0 ? undefined : 'needs root: the directories are given to other owners';

describe('trusted directories', { skip }, () => {
  const base = mkdtempSync('/tmp/tc-trust-');
  after(() => rmSync(base, { recursive: true, force: true }));
  const dir = (name: string, mode: number, uid = 0) => {
    const d = join(base, name);
    mkdirSync(d, { recursive: true });
    chmodSync(d, mode);
    chownSync(d, uid, 0);
    return d;
  };

  test('root-owned and written by root alone: trusted, also below /tmp (sticky: no one renames what root made there)', () => {
    assert.equal(untrustedDirReason(dir('ok', 0o755)), undefined);
  });

  test('writable by everyone or its group, owned by another user, or below such a directory: refused, naming it', () => {
    const open = dir('open', 0o777);
    assert.equal(untrustedDirReason(open), `${open} is writable by everyone (mode 777)`);
    const group = dir('group', 0o775);
    assert.equal(untrustedDirReason(group), `${group} is writable by its group (mode 775)`);
    const theirs = dir('theirs', 0o755, 65534);
    assert.equal(untrustedDirReason(theirs), `${theirs} is owned by uid 65534, who could change what is in it`);
    const inside = dir('open/tools', 0o755);
    assert.equal(untrustedDirReason(inside), `${open} is writable by everyone (mode 777)`);
    assert.match(untrustedDirReason(join(base, 'missing')) ?? '', /missing: ENOENT$/);
  });

  test('a symlink is judged by where it leads', () => {
    const link = join(dir('links', 0o755), 'tools');
    symlinkSync(dir('theirs2/tools', 0o755), link);
    chownSync(join(base, 'theirs2'), 65534, 0);
    assert.equal(untrustedDirReason(link), `${join(base, 'theirs2')} is owned by uid 65534, who could change what is in it`);
  });

  test('a profile file someone else may change is not loaded: another owner, group or world write, or a symlink into such a place; the others are', async () => {
    const tools = dir('tools', 0o755);
    const profile = 'description = "d"\ncommand = ["/bin/true"]\n';
    const file = (name: string, mode: number, uid = 0) => {
      const f = join(tools, name);
      writeFileSync(f, profile);
      chmodSync(f, mode);
      chownSync(f, uid, 0);
      return f;
    };
    assert.equal(untrustedFileReason(file('good.toml', 0o644)), undefined);
    const open = file('open.toml', 0o666);
    assert.equal(untrustedFileReason(open), `${open} is writable by everyone (mode 666)`);
    const theirs = file('theirs.toml', 0o644, 65534);
    assert.equal(untrustedFileReason(theirs), `${theirs} is owned by uid 65534, who could change it`);
    const elsewhere = join(dir('home', 0o755, 65534), 'x.toml');
    writeFileSync(elsewhere, profile);
    symlinkSync(elsewhere, join(tools, 'linked.toml'));
    assert.equal(untrustedFileReason(join(tools, 'linked.toml')), `it leads to ${elsewhere}, and ${join(base, 'home')} is owned by uid 65534, who could change what is in it`);
    const loaded = await loadProfiles(tools);
    assert.deepEqual([...loaded.profiles.keys()], ['good']);
    assert.deepEqual(loaded.errors.map(describeProfileError), [
      `${join(tools, 'linked.toml')}: not trusted: it leads to ${elsewhere}, and ${join(base, 'home')} is owned by uid 65534, who could change what is in it; only root may change a profile`,
      `${open}: not trusted: ${open} is writable by everyone (mode 666); only root may change a profile`,
      `${theirs}: not trusted: ${theirs} is owned by uid 65534, who could change it; only root may change a profile`,
    ]);
  });

  test('the daemon does not listen in a directory others may change: they could swap the socket for a symlink before its owner and mode are set', async () => {
    const open = dir('sock', 0o1777);
    await assert.rejects(
      listenSocket(join(open, 'mcp.sock'), 'toolcell', () => undefined),
      (e: unknown) => e instanceof ListenError && e.message === `socket ${open}/mcp.sock: ${open} is writable by everyone (mode 1777); put the socket in a directory only root may change, such as /run/toolcell`,
    );
  });
});
