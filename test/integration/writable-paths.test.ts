// Writable host paths: exactly the directory named, no symlink on the way, never a system tree,
// and `check` warns when the tool's user cannot write there.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { PlanError } from '../../src/plan/sandbox-plan.js';
import { loadTools } from '../../src/profile/load-tools.js';
import { describeProfileError } from '../../src/profile/profile.js';
import { asNobody, profileFrom, realKernelSkipReason, scriptToolToml, silentLogger } from '../helpers/fixtures.js';
import { pollUntil, SLOWDOWN } from '../helpers/daemon.js';
import { DRAIN_AFTER_REAP_MS } from '../../src/linux/spawn-process.js';

const skip = realKernelSkipReason();

function tool(writable: string, user = 'nobody'): string {
  return scriptToolToml({ description: 'writable test', user, writable: [`${writable}:/out`] });
}

describe('writable host paths (real bwrap)', { skip }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync('/tmp/tc-writable-');
    // bwrap resolves bind sources as the tool's user, which must be able to traverse the parent.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'real'));
    chownSync(join(dir, 'real'), 65534, 65534);
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    symlinkSync(dir, join(dir, 'parentlink'));
    symlinkSync('/etc', join(dir, 'etclink'));
    mkdirSync(join(dir, 'rootonly'), { mode: 0o755 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (writable: string, script: string) =>
    runInvocation(asNobody(profileFrom('w', tool(writable))), { script }, { logger: silentLogger });

  test('output pipes passed out of the sandbox (over a Unix socket in a writable path) do not keep the call waiting', async () => {
    // Another process (here the test's own, as another call's could) takes the tool's stdout and
    // stderr and holds them for 30 s; the tool exits at once.
    const sock = join(dir, 'real', 'fd.sock');
    const holder = spawn('python3', ['-c', `
import os, socket, time
s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)}); os.chmod(${JSON.stringify(sock)}, 0o777); s.listen(1)
print('listening', flush=True)
c, _ = s.accept(); msg, fds, flags, addr = socket.recv_fds(c, 10, 4)
print('held', len(fds), flush=True)
time.sleep(30)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let said = '';
    holder.stdout.setEncoding('utf8').on('data', (c: string) => (said += c));
    try {
      assert.ok(await pollUntil(() => said.includes('listening'), 10_000 * SLOWDOWN), said);
      const started = performance.now();
      const r = await run(join(dir, 'real'), `python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/out/fd.sock'); socket.send_fds(s, [b'x'], [1, 2]); print('sent')"`);
      const ms = performance.now() - started;
      assert.equal(r.stdout, 'sent\n');
      // The holder's line can reach this process after the call's end.
      assert.ok(await pollUntil(() => said.includes('held'), 5_000 * SLOWDOWN), said);
      assert.equal(said, 'listening\nheld 2\n', 'the holder has both pipes');
      // Without the grace the call ended with the holder, 30 s on.
      assert.ok(ms < (DRAIN_AFTER_REAP_MS + 8_000) * SLOWDOWN, `${ms.toFixed(0)} ms`);
    } finally {
      holder.kill('SIGKILL');
      rmSync(sock, { force: true });
    }
  });

  test('the named directory is writable inside, and a planted symlink stays a symlink', async () => {
    const r = await run(join(dir, 'real'), 'echo hi > /out/f; ln -s /etc/shadow /out/l; cat /out/f; cat /out/l');
    assert.equal(r.stdout, 'hi\n');
    assert.equal(r.stderr, 'cat: /out/l: No such file or directory\n');
  });

  for (const [name, path, resolves] of [
    ['a symlink', 'link', 'real'],
    ['a path below a symlinked parent', 'parentlink/real', 'real'],
  ] as const) {
    test(`${name} is refused when the call starts`, async () => {
      await assert.rejects(
        run(join(dir, path), 'echo ran'),
        (e: unknown) =>
          e instanceof PlanError && e.message === `tool w: writable host path ${join(dir, path)} passes through a symlink (resolves to ${join(dir, resolves)})`,
      );
    });
  }

  test('a symlink into /etc is refused', async () => {
    await assert.rejects(
      run(join(dir, 'etclink'), 'echo ran'),
      (e: unknown) => e instanceof PlanError && e.message === `tool w: writable host path ${join(dir, 'etclink')} passes through a symlink (resolves to /etc)`,
    );
  });

  test('check warns when the tool user cannot write the path, and about a missing path', async (t) => {
    const tools = mkdtempSync('/tmp/tc-writable-tools-');
    t.after(() => rmSync(tools, { recursive: true, force: true }));
    writeFileSync(join(tools, 'a.toml'), tool(join(dir, 'rootonly')));
    writeFileSync(join(tools, 'b.toml'), tool(join(dir, 'gone'), 'daemon'));
    const { tools: served, warnings, errors } = await loadTools(tools, 'toolcell');
    assert.deepEqual(errors, []);
    assert.deepEqual([...served.keys()], ['a', 'b'], 'warnings do not stop a tool from being served');
    // (nobody and daemon also draw the warning that toolcell did not make them: not this test's.)
    assert.deepEqual(warnings.filter((w) => w.key === 'filesystem.writable').map(describeProfileError), [
      `${tools}/a.toml:12: filesystem.writable: ${join(dir, 'rootonly')}: user "nobody" cannot write here (owner 0:0, mode 755)`,
      `${tools}/b.toml:12: filesystem.writable: ${join(dir, 'gone')}: ENOENT; calls of this tool fail until it exists`,
    ]);
  });
});
