// `toolcell users sync` with real users: its exit status says whether it made the users of the
// profiles that parse, not whether every profile is good. The service runs it before each start
// and reload (ExecStartPre, ExecReload), so a broken profile must not fail it, while the daemon
// skips that profile and serves the rest; `toolcell check` is the command that fails on it.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupUserRecord, removeUser } from '../../src/linux/users.js';
import { makeTempDir, removeDir, runCli } from '../helpers/daemon.js';
import { realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';

const skip = realKernelSkipReason();
const PREFIX = 'tctest-sync-';
const GOOD = `${PREFIX}good`;
const TYPO = `${PREFIX}typo`;
const SECRET = `${PREFIX}secret`;
const SHARED = `${PREFIX}shared`;
const CLIENTS = `${PREFIX}clients`;
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

const exists = async (name: string) => (await lookupUserRecord(name)) !== undefined;
const groupExists = (name: string) => spawnSync('getent', ['group', name], { env: ENV }).status === 0;

describe('toolcell users sync (real users)', { skip }, () => {
  let dir = '';
  let config = '';
  before(async () => {
    for (const name of [GOOD, TYPO, SECRET, SHARED]) assert.equal(await exists(name), false, `${name} is left from an earlier run`);
    assert.equal(groupExists(CLIENTS), false, `${CLIENTS} is left from an earlier run`);
    dir = makeTempDir('tc-users-sync-');
    const tools = join(dir, 'tools');
    spawnSync('mkdir', [tools]);
    writeFileSync(join(tools, 'good.toml'), scriptToolToml({ user: GOOD }));
    // A typo: the whole profile is refused when it is parsed.
    writeFileSync(join(tools, 'typo.toml'), scriptToolToml({ user: TYPO, extra: 'descripton = "typo"' }));
    // Parses, but its secret may be read by everyone: refused when the tools load.
    writeFileSync(join(dir, 'token'), 'x\n', { mode: 0o644 });
    chmodSync(join(dir, 'token'), 0o644);
    writeFileSync(join(tools, 'secret.toml'), scriptToolToml({ user: SECRET, sections: `[secrets]\nTOKEN = "${dir}/token"` }));
    // Two tools naming one user: refused for both, so the user is never made.
    writeFileSync(join(tools, 'shared1.toml'), scriptToolToml({ user: SHARED }));
    writeFileSync(join(tools, 'shared2.toml'), scriptToolToml({ user: SHARED }));
    config = join(dir, 'toolcell.toml');
    writeFileSync(config, `tools_dir = "${tools}"\nclient_group = "${CLIENTS}"\n`);
  });
  after(async () => {
    for (const name of [GOOD, TYPO, SECRET, SHARED]) await removeUser(name);
    spawnSync('groupdel', [CLIENTS], { env: ENV });
    removeDir(dir);
  });

  test('one valid and some broken profiles: exit 0, the valid tool has its user, each error is printed with file and key', async () => {
    const r = await runCli(['users', 'sync', '--config', config], 120_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await exists(GOOD), true);
    assert.equal(groupExists(CLIENTS), true);
    assert.match(r.stdout, new RegExp(`^created user ${GOOD} \\(uid \\d+\\) for good$`, 'm'));
    const tools = join(dir, 'tools');
    assert.match(r.stderr, new RegExp(`^${tools}/typo\\.toml:\\d+: descripton: unknown key`, 'm'));
    assert.match(r.stderr, new RegExp(`^${tools}/secret\\.toml:\\d+: secrets\\.TOKEN: `, 'm'));
    assert.match(r.stderr, new RegExp(`^${tools}/shared1\\.toml:\\d+: identity\\.user: `, 'm'));
    assert.match(r.stderr, new RegExp(`not creating user ${SHARED}: it is named by shared1, shared2`));
    // A profile refused before it parses names no user to make; a shared user is refused anyway.
    assert.equal(await exists(TYPO), false);
    assert.equal(await exists(SHARED), false);
  });

  test('a second run has nothing to do and still exits 0; toolcell check exits 1 for the same profiles', async () => {
    const again = await runCli(['users', 'sync', '--config', config], 120_000);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.doesNotMatch(again.stdout, /created/);
    const check = await runCli(['check', '--config', config], 60_000);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /1 tool\(s\) ok \(good\)/);
  });

  test('a tools directory others may write makes it exit 1 with the reason, and make no user', async () => {
    const tools = join(dir, 'tools');
    chmodSync(tools, 0o777);
    try {
      await removeUser(GOOD);
      const r = await runCli(['users', 'sync', '--config', config], 120_000);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stderr, `toolcell users sync: tools directory ${tools}: ${tools} is writable by everyone (mode 777); only root may change the directory of the profiles\n`);
      assert.equal(await exists(GOOD), false);
    } finally {
      chmodSync(tools, 0o755);
    }
  });
});
