// cgroup v2 for real: this machine binds the controllers to v1, so the cgroup tests and the crash
// sweep run again in a throw-away Debian 12 VM (QEMU, systemd, pure cgroup v2), each file as the
// only process of a Delegate=yes scope, which is how the daemon runs under systemd
// (test/vm/guest-suite.sh); then the installed service under systemd. scripts/vm/run-in-guest.sh builds the image
// once (about 60-70 s, cached) and boots it (about 12 s).
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT } from '../helpers/paths.js';

const skip = process.getuid?.() !== 0 ? 'needs root (builds and boots a VM)' : process.env.TOOLCELL_SKIP_VM ? 'TOOLCELL_SKIP_VM is set' : undefined;

test('cgroup v2 tests, the crash sweep and the installed systemd service pass in a systemd VM', { skip, timeout: 20 * 60_000 }, () => {
  const r = spawnSync(`${ROOT}scripts/vm/run-in-guest.sh`, ['bash', 'test/vm/guest-suite.sh'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, VM_TIMEOUT: '900' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out.slice(-4000));
  assert.match(out, /cgroup limits \(real cgroups v2\)/);
  assert.match(out, /✔ e2e: daemon crash and the next start/);
  const summaries = [...out.matchAll(/ℹ pass (\d+)\nℹ fail (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.match(out, /✔ the installed service under systemd \(cgroup v2\)/);
  assert.deepEqual(summaries, [[10, 0], [2, 0], [8, 0]], out.slice(-4000));
});
