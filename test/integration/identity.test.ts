// Per-tool identity with real users: the refusal rules against real passwd/group entries, and two
// tools with users of their own that cannot reach each other.
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { createToolUser, lookupUserRecord, removeUser } from '../../src/linux/users.js';
import { loadTools, type ServedTool } from '../../src/profile/load-tools.js';
import { describeProfileError } from '../../src/profile/profile.js';
import { realKernelSkipReason, scriptToolToml, silentLogger } from '../helpers/fixtures.js';
import { pidsWithArgv, pidsWithMarker, uniqueMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';

const skip = realKernelSkipReason();
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const PREFIX = 'tctest-';

function toolToml(user: string, readOnly: string[] = [], writable?: string): string {
  return scriptToolToml({ description: 'identity test tool', user, readOnly, tmpfs: ['/work:4M'], limits: 'timeout = "10s"', ...(writable ? { writable: [writable] } : {}) });
}

describe('per-tool identity (real users)', { skip }, () => {
  const created: string[] = [];
  let dir = '';
  let hostDirA = '';
  let hostDirB = '';

  async function addUser(name: string, extraArgs?: string[]): Promise<void> {
    if (extraArgs) execFileSync('useradd', ['--system', ...extraArgs, '--', name], { env: ENV });
    else await createToolUser(name);
    created.push(name);
  }

  before(async () => {
    await addUser(`${PREFIX}a`);
    await addUser(`${PREFIX}b`);
    await addUser(`${PREFIX}login`, ['--shell', '/bin/bash', '--home-dir', '/nonexistent', '--no-create-home']);
    await addUser(`${PREFIX}home`, ['--shell', '/usr/sbin/nologin', '--home-dir', `/home/${PREFIX}home`, '--no-create-home']);
    await addUser(`${PREFIX}adm`, ['--shell', '/usr/sbin/nologin', '--home-dir', '/nonexistent', '--no-create-home', '--groups', 'adm']);
    dir = mkdtempSync('/tmp/tc-identity-');
    hostDirA = mkdtempSync('/tmp/tc-identity-a-');
    hostDirB = mkdtempSync('/tmp/tc-identity-b-');
    const a = (await lookupUserRecord(`${PREFIX}a`))!;
    const b = (await lookupUserRecord(`${PREFIX}b`))!;
    chownSync(hostDirA, a.uid, a.gid);
    chownSync(hostDirB, b.uid, b.gid);
    chmodSync(hostDirA, 0o700);
    chmodSync(hostDirB, 0o700);
    writeFileSync(join(hostDirB, 'secret.txt'), 'b-only\n');
    chownSync(join(hostDirB, 'secret.txt'), b.uid, b.gid);
    chmodSync(join(hostDirB, 'secret.txt'), 0o600);
    // Tool a is (mis)configured to see b's directory: the uid boundary must still hold.
    writeFileSync(join(dir, 'a.toml'), toolToml(`${PREFIX}a`, [`${hostDirB}:/b`], `${hostDirA}:/work/out`));
    writeFileSync(join(dir, 'b.toml'), toolToml(`${PREFIX}b`, [], `${hostDirB}:/work/out`));
    writeFileSync(join(dir, 'login.toml'), toolToml(`${PREFIX}login`));
    writeFileSync(join(dir, 'home.toml'), toolToml(`${PREFIX}home`));
    writeFileSync(join(dir, 'adm.toml'), toolToml(`${PREFIX}adm`));
    writeFileSync(join(dir, 'rooted.toml'), toolToml('root'));
    writeFileSync(join(dir, 'missing.toml'), toolToml(`${PREFIX}missing`));
  });

  after(async () => {
    for (const name of created) await removeUser(name);
    for (const d of [dir, hostDirA, hostDirB]) if (d) rmSync(d, { recursive: true, force: true });
  });

  async function served(): Promise<{ tools: ReadonlyMap<string, ServedTool>; errors: string[] }> {
    const { tools, errors } = await loadTools(dir, 'toolcell');
    return { tools, errors: errors.map(describeProfileError) };
  }

  const sh = async (tool: ServedTool, script: string, signal?: AbortSignal) =>
    runInvocation(tool, { script }, { logger: silentLogger, signal });

  test('each refusal rule, with its reason, and the good tools still served', async () => {
    const { tools, errors } = await served();
    assert.deepEqual([...tools.keys()].sort(), ['a', 'b']);
    assert.deepEqual(errors.sort(), [
      `${dir}/adm.toml:9: identity.user: user "${PREFIX}adm" is in privileged group(s) adm`,
      `${dir}/home.toml:9: identity.user: user "${PREFIX}home" has a home under /home or /root (/home/${PREFIX}home): that is a person's account`,
      `${dir}/login.toml:9: identity.user: user "${PREFIX}login" has a login shell (/bin/bash)`,
      `${dir}/missing.toml:9: identity.user: user "${PREFIX}missing" does not exist (create it with "toolcell users sync")`,
      `${dir}/rooted.toml:9: identity.user: user "root" has a login shell (/bin/bash)`,
      `${dir}/rooted.toml:9: identity.user: user "root" has a home under /home or /root (/root): that is a person's account`,
      `${dir}/rooted.toml:9: identity.user: user "root" is in privileged group(s) root`,
      `${dir}/rooted.toml:9: identity.user: user "root" is root (uid 0, gid 0)`,
    ].sort());
  });

  test('two tools sharing a user are both refused', async (t) => {
    const shared = mkdtempSync('/tmp/tc-identity-shared-');
    t.after(() => rmSync(shared, { recursive: true, force: true }));
    writeFileSync(join(shared, 'one.toml'), toolToml(`${PREFIX}a`));
    writeFileSync(join(shared, 'two.toml'), toolToml(`${PREFIX}a`));
    const { tools, errors } = await loadTools(shared, 'toolcell');
    assert.equal(tools.size, 0);
    assert.deepEqual(errors.map(describeProfileError), [
      `${shared}/one.toml:9: identity.user: user "${PREFIX}a" is also the user of two; every tool needs a user of its own`,
      `${shared}/two.toml:9: identity.user: user "${PREFIX}a" is also the user of one; every tool needs a user of its own`,
    ]);
  });

  test('the tool runs as its own uid and gid, no supplementary groups, no capabilities, NoNewPrivs', async () => {
    const { tools } = await served();
    const a = tools.get('a')!;
    const r = await sh(a, 'id -u; id -g; id -G; stat -c %u /work; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs):" /proc/self/status');
    assert.equal(
      r.stdout,
      `${a.user.uid}\n${a.user.gid}\n${a.user.gid}\n${a.user.uid}\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n`,
    );
  });

  test("tool a cannot read or write tool b's files, even when b's directory is bound into a", async () => {
    const { tools } = await served();
    const r = await sh(tools.get('a')!, 'cat /b/secret.txt; ls /b; touch /b/x; echo mine > /work/out/f && cat /work/out/f');
    assert.equal(r.stdout, 'mine\n');
    assert.equal(
      r.stderr,
      'cat: /b/secret.txt: Permission denied\n' + "ls: cannot open directory '/b': Permission denied\n" + "touch: cannot touch '/b/x': Permission denied\n",
    );
  });

  test("tool a can neither see nor signal tool b's running sandbox", async () => {
    const { tools } = await served();
    const marker = uniqueMarker(9004);
    const ac = new AbortController();
    const running = sh(tools.get('b')!, `sleep ${marker}`, ac.signal);
    try {
      // The sleep itself, not bwrap (whose argv holds the script text) nor bash before its exec.
      assert.equal(await waitForSleep(marker), true, 'b is running');
      const hostPid = pidsWithArgv(['sleep', marker])[0];
      assert.ok(hostPid, 'found b\'s sleep on the host');
      const r = await sh(tools.get('a')!, `cat /proc/[0-9]*/comm > /work/p; sort -u /work/p; kill -9 ${hostPid}; echo rc=$?`);
      assert.equal(r.stdout, 'bash\nrc=1\n');
      assert.match(r.stderr, new RegExp(`kill: \\(${hostPid}\\) - No such process`));
      assert.ok(pidsWithMarker(`sleep ${marker}`).length > 0, 'b is still running');
    } finally {
      ac.abort();
      await running;
    }
    assert.equal(await waitForMarkerGone(marker), true);
  });
});
