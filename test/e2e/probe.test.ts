// `toolcell probe`: the blast radius measured from inside each tool's real sandbox. The bundled
// tools reach nothing beyond their profiles; a deliberately widened profile (a listed directory
// that holds a private key and an .env file) is caught and the probe exits 1.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, makeToolsDir, removeDir, runCli } from '../helpers/daemon.js';
import { createToolUsers, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { PROFILES, ROOT } from '../helpers/paths.js';
import { spawnSync } from 'node:child_process';

const skip = realKernelSkipReason();

describe('e2e: toolcell probe', { skip }, () => {
  for (const tool of ['python', 'shell', 'search']) {
    test(`${tool}: nothing reached beyond the profile; no escape syscall succeeds; exit 0`, async () => {
      const r = await runCli(['probe', tool, '--tools', PROFILES, '--json'], 60_000);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as { findings: unknown[]; syscalls: { name: string; result: string }[]; connections: { result: string }[]; processes: number };
      assert.deepEqual(report.findings, []);
      assert.ok(report.syscalls.length >= 10 && report.syscalls.every((s) => s.result === 'errno 1'), JSON.stringify(report.syscalls));
      assert.ok(report.connections.every((c) => c.result === 'errno 101'), 'no network at all');
      assert.ok(report.processes <= 3, `processes visible: ${report.processes}`);
    });
  }

  describe('a widened profile', () => {
    let dir: string;
    let tools: string;
    let removeUsers: () => Promise<void> = async () => undefined;
    before(async () => {
      dir = makeTempDir('tc-widened-');
      chmodSync(dir, 0o755);
      mkdirSync(join(dir, '.ssh'), { mode: 0o755 });
      writeFileSync(join(dir, '.ssh', 'id_rsa'), '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n', { mode: 0o644 });
      writeFileSync(join(dir, '.env'), 'API_TOKEN=not-a-real-token\n', { mode: 0o644 });
      writeFileSync(join(dir, 'README'), 'harmless\n', { mode: 0o644 });
      // Deeper than the walk goes: a .env there must not leave a clean report.
      const deep = join(dir, ...Array.from({ length: 13 }, () => 'n'));
      mkdirSync(deep, { recursive: true, mode: 0o755 });
      writeFileSync(join(deep, '.env'), 'API_TOKEN=hidden\n', { mode: 0o644 });
      removeUsers = await createToolUsers(['widened']);
      tools = makeToolsDir({ 'widened.toml': scriptToolToml({ readOnly: [`${dir}:/project`] }) }, false);
    });
    after(async () => {
      removeDir(dir);
      removeDir(tools);
      await removeUsers();
    });

    test('the readable private key and .env are findings even though the directory is listed; exit 1', async () => {
      const r = await runCli(['probe', 'widened', '--tools', tools], 60_000);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^probe of widened: 3 finding\(s\)$/m);
      assert.match(r.stdout, new RegExp(`^ {2}FINDING /project${'/n'.repeat(13)}: not looked at beyond here \\(deeper than 12 levels\\); what lies further in was not checked$`, 'm'));
      assert.match(r.stdout, /^ {2}FINDING \/project\/\.env: readable environment file$/m);
      assert.match(r.stdout, /^ {2}FINDING \/project\/\.ssh\/id_rsa: readable ssh private key$/m);
      assert.doesNotMatch(r.stdout, /README/);
    });
  });

  test('an unknown tool is an error; the helper refuses to run outside a sandbox', async () => {
    const r = await runCli(['probe', 'nosuch', '--tools', PROFILES]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no tool "nosuch"/);
    // It checks that its pid 1 is bwrap's, so nobody runs its escape attempts on a host by mistake.
    const direct = spawnSync(join(ROOT, 'dist/native/probe'), ['--path', '/etc/shadow'], { encoding: 'utf8' });
    assert.deepEqual([direct.status, direct.stdout, direct.stderr], [2, '', 'probe: runs only inside a toolcell sandbox (use toolcell probe TOOL)\n']);
  });
});
