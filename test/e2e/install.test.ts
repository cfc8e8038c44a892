// scripts/install.sh and uninstall.sh into a temporary DESTDIR (what a packager does): the tree,
// its modes, the units systemd-analyze accepts, the admin's files never overwritten, and an
// uninstall that leaves only the admin's configuration (or nothing, with --purge).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, removeDir } from '../helpers/daemon.js';
import { PROFILES, ROOT } from '../helpers/paths.js';

const skip = existsSync(join(ROOT, 'dist/native/pty-exec')) ? undefined : 'the checkout is not built (scripts/setup.sh)';

function script(name: string, dest: string, ...args: string[]) {
  return spawnSync('sh', [join(ROOT, 'scripts', name), ...args], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8', timeout: 120_000 });
}
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

describe('install.sh / uninstall.sh (DESTDIR)', { skip }, () => {
  let dest: string;
  before(() => {
    dest = makeTempDir('tc-destdir-');
  });
  after(() => removeDir(dest));

  test('installs the program, launcher, units, sysusers/tmpfiles and the admin files with their modes', () => {
    const r = script('install.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /a package build: no users made, nothing started/);
    const lib = join(dest, 'usr/lib/toolcell');
    assert.deepEqual(readdirSync(lib).sort(), ['README.md', 'bin', 'dist', 'node_modules', 'package.json', 'profiles']);
    assert.deepEqual(readdirSync(join(lib, 'dist')).sort(), ['native', 'src'], 'no tests in the package');
    assert.equal(existsSync(join(lib, 'node_modules/@modelcontextprotocol/sdk/package.json')), true);
    assert.equal(existsSync(join(lib, 'node_modules/typescript')), false, 'no development dependencies');
    assert.equal(mode(join(lib, 'dist/native/pty-exec')), '755');
    assert.equal(mode(join(lib, 'dist/src/cli.js')), '644');
    const launcher = join(dest, 'usr/bin/toolcell');
    assert.equal(mode(launcher), '755');
    // The launcher runs the node that install.sh found on PATH.
    const node = spawnSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(readFileSync(launcher, 'utf8'), `#!/bin/sh\nexec ${node} /usr/lib/toolcell/bin/toolcell.js "$@"\n`);
    for (const f of ['usr/lib/systemd/system/toolcell.service', 'usr/lib/systemd/system/toolcell.socket', 'usr/lib/sysusers.d/toolcell.conf', 'usr/lib/tmpfiles.d/toolcell.conf', 'etc/toolcell/toolcell.toml']) {
      assert.equal(mode(join(dest, f)), '644', f);
    }
    assert.deepEqual(readdirSync(join(dest, 'etc/toolcell/tools')).sort(), readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).sort());
    assert.equal(mode(join(dest, 'etc/toolcell')), '755');
  });

  test('the units pass systemd-analyze verify', (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed');
    // verify wants the ExecStart binaries to exist: point the units at the DESTDIR launcher.
    const dir = join(dest, 'verify');
    mkdirSync(dir, { recursive: true });
    for (const u of ['toolcell.service', 'toolcell.socket']) {
      writeFileSync(join(dir, u), readFileSync(join(dest, 'usr/lib/systemd/system', u), 'utf8').replaceAll('/usr/bin/toolcell', join(dest, 'usr/bin/toolcell')));
    }
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'toolcell.socket'), join(dir, 'toolcell.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('sysusers.d names a user for every bundled tool, and the client group', () => {
    const conf = readFileSync(join(dest, 'usr/lib/sysusers.d/toolcell.conf'), 'utf8');
    const users = [...conf.matchAll(/^u (\S+) - "toolcell tool (\S+)" \/nonexistent \/usr\/sbin\/nologin$/gm)].map((m) => [m[1], m[2]]);
    const tools = readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).map((f) => f.slice(0, -5)).sort();
    assert.deepEqual(users, tools.map((t) => [`tc-${t}`, t]));
    assert.match(conf, /^g toolcell -$/m);
  });

  test("a second run is idempotent and never overwrites the admin's config or tools", () => {
    writeFileSync(join(dest, 'etc/toolcell/toolcell.toml'), 'log_level = "debug"\n');
    const removed = join(dest, 'etc/toolcell/tools/search.toml');
    spawnSync('rm', [removed]);
    const r = script('install.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dest, 'etc/toolcell/toolcell.toml'), 'utf8'), 'log_level = "debug"\n');
    assert.equal(existsSync(removed), false, 'a profile the admin removed stays removed');
    assert.doesNotMatch(r.stderr, /wrote|installed the bundled profiles/);
    assert.equal(existsSync(join(dest, 'usr/lib/toolcell.new')) || existsSync(join(dest, 'usr/lib/toolcell.old')), false);
  });

  test('uninstall removes everything but /etc/toolcell; --purge removes that too', () => {
    let r = script('uninstall.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dest, 'usr/lib')).sort(), ['systemd', 'sysusers.d', 'tmpfiles.d']);
    assert.deepEqual(readdirSync(join(dest, 'usr/lib/systemd/system')), []);
    assert.deepEqual([readdirSync(join(dest, 'usr/lib/sysusers.d')), readdirSync(join(dest, 'usr/lib/tmpfiles.d')), readdirSync(join(dest, 'usr/bin'))], [[], [], []]);
    assert.equal(existsSync(join(dest, 'etc/toolcell/toolcell.toml')), true);
    r = script('uninstall.sh', dest, '--purge');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(dest, 'etc/toolcell')), false);
  });
});
