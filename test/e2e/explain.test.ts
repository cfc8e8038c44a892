// `toolcell explain`: the same planning as a call, shown to an admin. Its argv is the golden argv
// of the bundled profile (with a placeholder for the argument); a network tool shows both rule sets.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeToolsDir, removeDir, runCli } from '../helpers/daemon.js';
import { createToolUsers, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { GOLDEN_DIR } from '../helpers/golden.js';
import { PROFILES } from '../helpers/paths.js';
import { FACTS } from '../helpers/host-fixture.js';
import { EXEC_HELPER } from '../../src/linux/gather-host-facts.js';

const skip = realKernelSkipReason();

describe('e2e: toolcell explain', { skip }, () => {
  test('--json gives the plan a call of python gets: user, mounts, limits, no network, the golden bwrap argv', async () => {
    const r = await runCli(['explain', 'python', '--json', '--tools', PROFILES]);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout) as { user: { name: string }; network: unknown; command: string[]; bwrap: string[]; environment: string[]; limits: { memory: number }; seccomp: { denied: string[] } };
    assert.equal(e.user.name, 'tc-python');
    assert.equal(e.network, null);
    assert.deepEqual(e.environment, ['HOME', 'LANG', 'PATH']);
    assert.equal(e.limits.memory, 256 * 1024 * 1024);
    assert.ok(e.seccomp.denied.includes('ptrace') && e.seccomp.denied.includes('clone*'));
    const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, 'python.argv.json'), 'utf8')) as string[];
    // The golden file has the fixture's helper path; this host has its own build.
    assert.deepEqual(e.bwrap, ['/usr/bin/bwrap', ...golden.map((a) => (a === FACTS.execHelper ? EXEC_HELPER : a))]);
    assert.deepEqual(e.command.at(-1), '<code>');
  });

  test('a tool with an allowlist shows the allowlist and both nftables rule sets', async () => {
    const removeUsers = await createToolUsers(['fetcher']);
    const tools = makeToolsDir({ 'fetcher.toml': scriptToolToml({ sections: '[network]\nallow = ["198.51.100.7:443"]' }) }, false);
    try {
      const r = await runCli(['explain', 'fetcher', '--tools', tools]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^network: only 198\.51\.100\.7:443$/m);
      assert.match(r.stdout, /^ {8}ip daddr 198\.51\.100\.7 tcp dport 443 accept$/m);
      assert.match(r.stdout, /^ {4}table inet toolcell_\d+_\d+_0 \{$/m);
      assert.match(r.stdout, /--ro-bind-data 6 \/etc\/hosts/);
    } finally {
      removeDir(tools);
      await removeUsers();
    }
  });

  test('an unknown tool, or a broken one, is an error that says why', async () => {
    const unknown = await runCli(['explain', 'nosuch', '--tools', PROFILES]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, `toolcell explain: no tool "nosuch" in ${PROFILES} (served: python, search, shell)\n`);
    const tools = makeToolsDir({ 'broken.toml': 'description = "x"\ncommand = ["/bin/true"]\ncolour = "blue"\n' }, false);
    try {
      const broken = await runCli(['explain', 'broken', '--tools', tools]);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /^toolcell explain: broken is not served:\n {2}.*broken\.toml:3: colour: unknown key/);
    } finally {
      removeDir(tools);
    }
    const usage = await runCli(['explain']);
    assert.equal(usage.code, 2);
  });
});
