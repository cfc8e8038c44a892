// `toolcell run`: one call through the MCP call's own code path, without a daemon. Its --json
// result is the structuredContent an MCP client gets for the same call.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectClient, runCli, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { BIN, PROFILES } from '../helpers/paths.js';
import { spawnSync } from 'node:child_process';

const skip = realKernelSkipReason();
const VOLATILE = ['invocationId', 'durationMs', 'cpuTimeMs', 'peakMemoryBytes', 'peakPids'];
const stable = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !VOLATILE.includes(k)));

describe('e2e: toolcell run', { skip }, () => {
  let daemon: Daemon;
  let conn: DirectClient;
  before(async () => {
    daemon = await startDaemon({ tools: PROFILES });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
  });

  test('prints what an MCP host shows and exits 0', async () => {
    const r = await runCli(['run', 'python', '--tools', PROFILES, '--arg', 'code=print(6*7)']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '42\n', '']);
  });

  test('--json is the structuredContent of the same MCP call; the exit status is the tool\'s', async () => {
    const args = { script: 'echo out; echo err >&2; exit 3' };
    const cli = await runCli(['run', 'shell', '--tools', PROFILES, '--args', JSON.stringify(args), '--json']);
    assert.equal(cli.code, 3, cli.stderr);
    const viaCli = JSON.parse(cli.stdout) as Record<string, unknown>;
    const viaMcp = ((await conn.client.callTool({ name: 'shell', arguments: args })) as CallToolResult).structuredContent as Record<string, unknown>;
    assert.deepEqual(Object.keys(viaCli).sort(), Object.keys(viaMcp).sort());
    assert.deepEqual(stable(viaCli), stable(viaMcp));
    assert.deepEqual(stable(viaCli), { exitCode: 3, signal: null, reason: null, stdout: 'out\n', stderr: 'err\n', stdoutTruncated: false, stderrTruncated: false, stdoutBytes: 4, stderrBytes: 4 });
  });

  const noScript = spawnSync('script', ['--version']).error ? 'script(1) (util-linux) is not installed: no terminal to run toolcell run on' : undefined;

  test("on a terminal, the tool's escape sequences never reach the admin's terminal; into a pipe they go as written", { skip: noScript }, () => {
    const code = 'code=print("\\x1b]52;c;ZXZpbA==\\x07\\x1b[31mred\\x1b[0m\\x9d0;title\\x9c done")';
    // script(1) gives the command a terminal for its stdout and copies what it wrote.
    const onTty = spawnSync('script', ['-qec', [process.execPath, BIN, 'run', 'python', '--tools', PROFILES, '--arg', code].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' '), '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(onTty.status, 0, onTty.stderr);
    assert.equal(onTty.stdout, 'red done\r\n');
    const piped = spawnSync(process.execPath, [BIN, 'run', 'python', '--tools', PROFILES, '--arg', code], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(piped.stdout, '\x1b]52;c;ZXZpbA==\x07\x1b[31mred\x1b[0m\x9d0;title\x9c done\n');
  });

  test('a descriptor the command inherited does not reach the sandbox', () => {
    // fd 3 is an open pipe in toolcell run; the sandbox must see only 0, 1, 2 (and listdir's own).
    const r = spawnSync(process.execPath, [BIN, 'run', 'python', '--tools', PROFILES, '--arg', 'code=import os; print(sorted(os.listdir("/proc/self/fd")))'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.stdout, "['0', '1', '2', '3']\n", r.stderr);
  });

  test('refused arguments, unknown tools and bad usage say why', async () => {
    const bad = await runCli(['run', 'python', '--tools', PROFILES, '--arg', 'code=1', '--arg', 'extra=2']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^toolcell run: invalid arguments for python: .*extra/);
    const unknown = await runCli(['run', 'nosuch', '--tools', PROFILES]);
    assert.deepEqual([unknown.code, unknown.stderr], [1, `toolcell run: no tool "nosuch" in ${PROFILES} (served: python, search, shell)\n`]);
    const both = await runCli(['run', 'python', '--tools', PROFILES, '--arg', 'code=1', '--args', '{}']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /either as --arg NAME=VALUE or as --args JSON/);
  });
});
