// The daemon's socket from birth to removal: its mode, refusing to steal a live daemon's socket,
// replacing a stale one, and a clean SIGTERM that kills running sandboxes and removes the socket.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import {
  closeQuietly,
  connectClient,
  makeTempDir,
  pollUntil,
  removeDir,
  runCli,
  socketAnswers,
  startDaemon,
  waitForExit,
  type Daemon,
  type DirectClient,
} from '../helpers/daemon.js';
import { describeMarked, killMarked, uniqueMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';

const skip = realKernelSkipReason();

describe('e2e: socket lifecycle', { skip }, () => {
  const daemons: Daemon[] = [];
  const clients: DirectClient[] = [];
  const dirs: string[] = [];
  const markers: string[] = [];
  const tempDir = () => {
    const d = makeTempDir('tc-sock-');
    dirs.push(d);
    return d;
  };
  const serve = async (socket?: string) => {
    // A short drain: the SIGTERM case below is about what happens to a call that outlives it.
    const configToml = 'drain_timeout = "300ms"\n';
    const d = await startDaemon(socket === undefined ? { tools: PROFILES, configToml } : { tools: PROFILES, socket, configToml });
    daemons.push(d);
    return d;
  };

  after(async () => {
    for (const c of clients) await closeQuietly(c.client);
    for (const d of daemons) await d.stop();
    for (const d of dirs) removeDir(d);
    // If a teardown assertion failed, its sandbox may have outlived the daemon: remove it by pid.
    for (const m of markers) killMarked(m);
  });

  test('the socket file is a socket with mode 0660', async () => {
    const daemon = await serve();
    const st = lstatSync(daemon.socket);
    assert.equal(st.isSocket(), true);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
  });

  test('a second serve on a live socket exits 1 with "already listening" and leaves the first one alone', async () => {
    const first = await serve();
    const r = await runCli(['serve', '--tools', PROFILES, '--socket', first.socket]);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes('already listening'), r.stderr);
    assert.equal(r.stderr, `toolcell: another daemon is already listening on ${first.socket}\n`);
    assert.equal(first.running, true);
    assert.equal(lstatSync(first.socket).isSocket(), true);
    const c = await connectClient(first.socket);
    clients.push(c);
    const { tools } = await c.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['python', 'search', 'shell']);
  });

  test('a path that is not a socket is never replaced', async () => {
    const path = join(tempDir(), 'mcp.sock');
    writeFileSync(path, 'precious');
    const r = await runCli(['serve', '--tools', PROFILES, '--socket', path]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `toolcell: ${path} exists and is not a socket; refusing to replace it\n`);
    assert.equal(readFileSync(path, 'utf8'), 'precious');
  });

  test('serve refuses a socket directory or a tools directory that others may change, naming it', async () => {
    const open = tempDir();
    chmodSync(open, 0o777);
    let r = await runCli(['serve', '--tools', PROFILES, '--socket', join(open, 'mcp.sock')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `toolcell: socket ${open}/mcp.sock: ${open} is writable by everyone (mode 777); put the socket in a directory only root may change, such as /run/toolcell\n`);
    assert.equal(existsSync(join(open, 'mcp.sock')), false);
    const tools = tempDir();
    cpSync(PROFILES, tools, { recursive: true });
    chmodSync(tools, 0o777);
    const socket = join(tempDir(), 'mcp.sock');
    r = await runCli(['serve', '--tools', tools, '--socket', socket]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`tools_dir ${tools}: ${tools} is writable by everyone \\(mode 777\\); only root may change the directory of the profiles`));
    assert.equal(existsSync(socket), false);
  });

  test('a stale socket file (its listener was SIGKILLed) is replaced by a new serve', async () => {
    const path = join(tempDir(), 'mcp.sock');
    const holder = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('ready\\n'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let out = '';
      holder.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      assert.equal(await pollUntil(() => out.includes('ready'), 10_000), true, 'the holder listens');
      holder.kill('SIGKILL');
      const exit = await waitForExit(holder, 5000);
      assert.equal(exit.signal, 'SIGKILL');
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    }
    assert.equal(lstatSync(path).isSocket(), true, 'the stale socket file is still there');
    assert.equal(await socketAnswers(path), false, 'nobody answers on it');

    const daemon = await serve(path);
    assert.equal(statSync(path).mode & 0o777, 0o660);
    const c = await connectClient(daemon.socket);
    clients.push(c);
    const r = (await c.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
  });

  test('SIGTERM during a call that outlives the drain: the call ends as "shutdown", the daemon exits 0, the socket and the sandbox are gone', async () => {
    const daemon = await serve();
    const marker = uniqueMarker(987006);
    markers.push(marker);
    const c = await connectClient(daemon.socket);
    clients.push(c);
    const pending = c.client.callTool({ name: 'shell', arguments: { script: `sleep ${marker}` } }).then(
      (r) => r as CallToolResult,
      (e: Error) => e,
    );
    assert.equal(await waitForSleep(marker), true, 'the sandboxed sleep runs');
    daemon.child.kill('SIGTERM');
    const exit = await waitForExit(daemon.child, 10_000);
    assert.equal(exit.timedOut, false, 'the daemon stopped within 10 s');
    assert.equal(exit.code, 0);
    assert.equal(exit.signal, null);
    assert.equal(existsSync(daemon.socket), false, 'the socket file was removed');
    const gone = await waitForMarkerGone(marker, 5000);
    assert.equal(gone, true, `sandbox processes left after SIGTERM:\n${describeMarked(marker)}`);
    const r = await pending;
    assert.ok(!(r instanceof Error), `the running call got its result before the daemon left: ${String(r)}`);
    assert.equal(r.isError, true);
    assert.equal((r.structuredContent as Record<string, unknown>).reason, 'shutdown');
    assert.deepEqual(r.content, [{ type: 'text', text: '[toolcell: killed: toolcell is shutting down]' }]);
  });
});
