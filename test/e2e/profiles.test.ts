// A broken profile in the tools directory: the daemon serves the others and says why; `toolcell
// check` lists each error as file:line: key: why and exits 1, and exits 0 on the bundled profiles.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createToolUsers, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { closeQuietly, connectClient, makeTempDir, makeToolsDir, pollUntil, removeDir, runCli, SLOWDOWN, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const skip = realKernelSkipReason();

const BROKEN_TOML = `description = "a tool with two typos"
command = ["/bin/true"]
colour = "blue"

[limits]
memroy = "1G"
`;
const UNKNOWN = 'unknown key (a typo must not silently change a policy)';

describe('e2e: toolcell check', () => {
  let tools: string | undefined;
  before(() => {
    tools = makeToolsDir({ 'broken.toml': BROKEN_TOML });
  });
  after(() => removeDir(tools));

  test('exits 1 and prints file:line: key: unknown key for each typo', async () => {
    const r = await runCli(['check', '--tools', tools!]);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    const file = join(tools!, 'broken.toml');
    assert.deepEqual(r.stderr.split('\n').filter((l) => l !== '').sort(), [`${file}:3: colour: ${UNKNOWN}`, `${file}:6: limits.memroy: ${UNKNOWN}`]);
    assert.match(r.stderr, /broken\.toml:3: colour: unknown key/);
    assert.equal(r.stdout, `${tools}: 3 tool(s) ok (python, search, shell), 2 error(s)\n`);
  });

  test('exits 0 on the bundled profiles', async () => {
    const r = await runCli(['check', '--tools', PROFILES]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `${PROFILES}: 3 tool(s) ok (python, search, shell), 0 error(s)\n`);
  });
});

describe('e2e: toolcell check flags egress to anywhere', { skip }, () => {
  test('allow_any with 0.0.0.0/0 loads, with a warning naming file, line and key', async () => {
    const removeUsers = await createToolUsers(['anyweb']);
    const tools = makeToolsDir({ 'anyweb.toml': scriptToolToml({ sections: '[network]\nallow_any = true\nallow = ["0.0.0.0/0:443", "[::/0]:443"]' }) }, false);
    try {
      const r = await runCli(['check', '--tools', tools]);
      assert.equal(r.code, 0, r.stderr);
      const file = join(tools, 'anyweb.toml');
      assert.equal(
        r.stderr,
        `warning: ${file}:12: network.allow_any: 0.0.0.0/0:443, [::/0]:443: the tool may reach any address on those ports (never the host itself, link-local, multicast or other sandboxes)\n`,
      );
      assert.equal(r.stdout, `${tools}: 1 tool(s) ok (anyweb), 0 error(s)\n`);
    } finally {
      removeDir(tools);
      await removeUsers();
    }
  });
});

describe('e2e: the example profiles pass check', { skip }, () => {
  test('git-log, http-get and terraform-plan load (with their users and secret files in place)', async () => {
    const removeUsers = await createToolUsers(['git-log', 'http-get', 'terraform-plan']);
    const secrets = makeTempDir('tc-secrets-');
    const examples = join(PROFILES, 'examples');
    const files: Record<string, string> = {};
    for (const name of readdirSync(examples)) files[name] = readFileSync(join(examples, name), 'utf8');
    // The secret files the terraform example names, as root-only files of this test.
    for (const s of ['terraform-aws-key-id', 'terraform-aws-secret']) writeFileSync(join(secrets, s), 'not-a-real-key\n', { mode: 0o600 });
    files['terraform-plan.toml'] = files['terraform-plan.toml']!.replaceAll('/etc/toolcell/secrets/', `${secrets}/`);
    const tools = makeToolsDir(files, false);
    try {
      const r = await runCli(['check', '--tools', tools]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, `${tools}: 3 tool(s) ok (git-log, http-get, terraform-plan), 0 error(s)\n`);
    } finally {
      removeDir(tools);
      removeDir(secrets);
      await removeUsers();
    }
  });
});

describe('e2e: the daemon with a broken profile', { skip }, () => {
  let tools: string | undefined;
  let daemon: Daemon | undefined;
  let conn: DirectClient | undefined;

  before(async () => {
    tools = makeToolsDir({ 'broken.toml': BROKEN_TOML });
    daemon = await startDaemon({ tools });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    removeDir(tools);
  });

  test('tools/list serves the good profiles and not the broken one', async () => {
    const { tools: listed } = await conn!.client.listTools();
    assert.deepEqual(listed.map((t) => t.name).sort(), ['python', 'search', 'shell']);
  });

  test('calling the broken tool is an unknown tool', async () => {
    await assert.rejects(conn!.client.callTool({ name: 'broken', arguments: {} }), /Unknown tool: broken$/);
  });

  test('the daemon logs why the profile is not served', async () => {
    const file = join(tools!, 'broken.toml');
    const logged = await pollUntil(() => daemon!.stdout.includes(`tool not served: ${file}:3: colour: unknown key`), 5000);
    assert.equal(logged, true, daemon!.stdout);
    assert.ok(daemon!.stdout.includes(`tool not served: ${file}:6: limits.memroy: unknown key`));
  });
});

describe('e2e: a call whose sandbox cannot be built', { skip }, () => {
  test("the caller learns that, and a reference; the host's paths stay in the daemon's log", async () => {
    const removeUsers = await createToolUsers(['nowhere']);
    const gone = makeTempDir('tc-gone-');
    removeDir(gone);
    const tools = makeToolsDir({ 'nowhere.toml': scriptToolToml({ writable: [`${gone}:/out`] }) }, false);
    const daemon = await startDaemon({ tools });
    try {
      const conn = await connectClient(daemon.socket);
      const r = (await conn.client.callTool({ name: 'nowhere', arguments: { script: 'true' } })) as { isError?: boolean; content: { text: string }[] };
      await closeQuietly(conn.client);
      assert.equal(r.isError, true);
      const ref = /^toolcell: the sandbox could not be run; the daemon's log has why \(ref ([0-9a-f-]{36})\)$/.exec(r.content[0]!.text)?.[1];
      assert.ok(ref, r.content[0]!.text);
      assert.ok(await pollUntil(() => daemon.stdout.includes(ref), 5000 * SLOWDOWN), daemon.stdout);
      const line = JSON.parse(daemon.stdout.split('\n').find((l) => l.includes(ref))!) as { msg: string; err: { message: string } };
      assert.equal(line.msg, 'invocation failed');
      assert.ok(line.err.message.includes(`writable host path ${gone} does not exist`), line.err.message);
    } finally {
      await daemon.stop();
      removeDir(tools);
      await removeUsers();
    }
  });
});
