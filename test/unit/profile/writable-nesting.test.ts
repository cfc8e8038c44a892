// A bound path inside a path some tool may write is that tool's to swap for a symlink between calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { describeProfileError, type Profile } from '../../../src/profile/profile.js';
import { nestedInWritable } from '../../../src/profile/writable-nesting.js';

function profile(name: string, filesystem: string): Profile {
  const r = parseProfile(name, `${name}.toml`, `description = "d"\ncommand = ["/bin/true"]\n[filesystem]\n${filesystem}\n`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.profile;
}

test("a path inside another tool's writable path, or a writable path inside its own, is refused; the same path shared, or a mere common prefix, is not", () => {
  const profiles = [
    profile('writer', 'writable = ["/srv/shared", "/srv/out", "/srv/out/inner:/inner"]'),
    profile('reader', 'read_only = ["/srv/shared/templates:/t", "/srv/shared:/s", "/srv/sharedother:/o"]'),
    profile('other', 'writable = ["/srv/shared/x:/x", "/srv/out:/out"]'),
  ];
  assert.deepEqual(nestedInWritable(profiles).map(describeProfileError), [
    'writer.toml:4: filesystem.writable: /srv/out/inner lies in /srv/out, a writable path of this tool: it could be replaced with a symlink that bwrap follows on the host; bind it from outside every writable path',
    'reader.toml:4: filesystem.read_only: /srv/shared/templates lies in /srv/shared, a writable path of tool writer: it could be replaced with a symlink that bwrap follows on the host; bind it from outside every writable path',
    'other.toml:4: filesystem.writable: /srv/shared/x lies in /srv/shared, a writable path of tool writer: it could be replaced with a symlink that bwrap follows on the host; bind it from outside every writable path',
  ]);
});
