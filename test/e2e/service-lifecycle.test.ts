// What systemd and an admin do to a running daemon: socket activation (a listening socket passed as
// LISTEN_FDS, made here the way systemd makes it), readiness and state on a NOTIFY_SOCKET made by the
// test, reload (SIGHUP) under a live connection and a running call, and the drain on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectClient, makeTempDir, makeToolsDir, pollUntil, removeDir, startDaemon, waitForExit, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { realKernelSkipReason, shellProfileToml } from '../helpers/fixtures.js';
import { killMarked, pidsWithArgv, uniqueMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';

/** Ends the sandboxed `sleep MARKER` itself (not bwrap, whose argv carries the marker too). */
function endSleep(marker: string): void {
  for (const pid of pidsWithArgv(['sleep', marker])) process.kill(pid, 'SIGKILL');
}

const skip = realKernelSkipReason();

/** Receives sd_notify datagrams on a socket of its own and prints each as one JSON line. */
const NOTIFY_LISTENER = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

/** Makes a listening Unix socket as systemd does for toolcell.socket, then execs the daemon with it as fd 3. */
const SOCKET_ACTIVATOR = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o660)
s.listen(16)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[2], sys.argv[2:])
`;

class NotifyListener {
  readonly messages: string[] = [];
  readonly child: ChildProcess;
  constructor(readonly path: string) {
    this.child = spawn('python3', ['-u', '-c', NOTIFY_LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        this.messages.push(JSON.parse(buf.slice(0, i)) as string);
        buf = buf.slice(i + 1);
      }
    });
  }
  ready(): Promise<boolean> {
    return pollUntil(() => this.messages.includes('listening'), 5000);
  }
  close(): void {
    this.child.kill('SIGKILL');
  }
}

describe('e2e: systemd integration and service lifecycle', { skip }, () => {
  const daemons: Daemon[] = [];
  const clients: DirectClient[] = [];
  const dirs: string[] = [];
  const listeners: NotifyListener[] = [];
  const markers: string[] = [];
  after(async () => {
    for (const c of clients) await closeQuietly(c.client);
    for (const d of daemons) await d.stop();
    for (const l of listeners) l.close();
    for (const d of dirs) removeDir(d);
    for (const m of markers) killMarked(m);
  });
  const tempDir = (prefix: string) => {
    const d = makeTempDir(prefix);
    dirs.push(d);
    return d;
  };

  test('socket activation: the passed socket is adopted, READY=1 arrives once it serves, STOPPING=1 on stop, and the socket file stays', async () => {
    const dir = tempDir('tc-sd-');
    const socket = join(dir, 'mcp.sock');
    const notify = new NotifyListener(join(dir, 'notify'));
    listeners.push(notify);
    assert.equal(await notify.ready(), true);
    const tools = makeToolsDir();
    dirs.push(tools);
    const daemon = await startDaemon({
      tools,
      socket,
      wrap: ['python3', '-c', SOCKET_ACTIVATOR, socket],
      env: { NOTIFY_SOCKET: notify.path },
    });
    daemons.push(daemon);
    // The socket answers before the daemon is up (the backlog holds connections): wait for it.
    assert.equal(await pollUntil(() => daemon.stdout.includes('"msg":"serving"'), 10_000), true, daemon.stderr);
    assert.match(daemon.stdout, /"adopted":true/);
    // The activator made the socket root's, as a toolcell.socket without SocketGroup= would: the
    // admin is told that client_group does not hold there.
    assert.match(daemon.stdout, /belongs to gid 0, not to client_group \\"toolcell\\" \(gid \d+\): set SocketGroup= in toolcell.socket/);
    assert.equal(await pollUntil(() => notify.messages.length > 1, 5000), true);
    assert.equal(notify.messages[1], `READY=1\nSTATUS=serving 3 tool(s)\nMAINPID=${daemon.pid}`);
    const c = await connectClient(socket);
    clients.push(c);
    const r = (await c.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
    // The sandbox got no inherited descriptor: only 0, 1, 2 (the adopted socket is close-on-exec).
    const fds = (await c.client.callTool({ name: 'shell', arguments: { script: 'ls /proc/self/fd' } })) as CallToolResult;
    assert.equal((fds.structuredContent as { stdout: string }).stdout, '0\n1\n2\n3\n');
    await closeQuietly(c.client);
    const status = await daemon.stop();
    assert.equal(status.code, 0);
    assert.equal(notify.messages.at(-1), 'STOPPING=1');
    assert.equal(existsSync(socket), true, 'the socket belongs to systemd (toolcell.socket) and outlives the daemon');
  });

  test('SIGHUP reloads the profiles: new tools appear, removed ones go, the connection and a running call carry on', async () => {
    const dir = tempDir('tc-reload-');
    const notify = new NotifyListener(join(dir, 'notify'));
    listeners.push(notify);
    assert.equal(await notify.ready(), true);
    const tools = makeToolsDir();
    dirs.push(tools);
    const daemon = await startDaemon({ tools, env: { NOTIFY_SOCKET: notify.path } });
    daemons.push(daemon);
    const c = await connectClient(daemon.socket);
    clients.push(c);
    let changed = 0;
    c.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    const marker = uniqueMarker(987011);
    markers.push(marker);
    const running = c.client.callTool({ name: 'shell', arguments: { script: `sleep ${marker} & wait; echo done` } }, undefined, { timeout: 60_000 });
    assert.equal(await waitForSleep(marker), true);

    unlinkSync(join(tools, 'search.toml'));
    writeFileSync(join(tools, 'shell2.toml'), shellProfileToml('another shell', 'timeout = "10s"'));
    daemon.child.kill('SIGHUP');
    assert.equal(await pollUntil(() => daemon.stdout.includes('profiles reloaded'), 10_000), true);
    assert.match(daemon.stdout, /"added":\[\],"removed":\["search"\]/);
    // shell2 has no user yet (users sync adds it): it is reported, and not served.
    assert.match(daemon.stdout, /shell2\.toml.*identity\.user/);
    assert.equal(await pollUntil(() => changed > 0, 5000), true, 'tools/list_changed reached the client');
    const listed = (await c.client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(listed, ['python', 'shell']);
    // (The directory watch may reload once more afterwards: look at the first reload.) READY=1 is
    // sent after the log line, and its datagram may not have been read here yet.
    const reloading = notify.messages.indexOf('RELOADING=1');
    await pollUntil(() => notify.messages.length >= reloading + 2, 5000);
    assert.deepEqual(notify.messages.slice(reloading, reloading + 2), ['RELOADING=1', 'READY=1\nSTATUS=serving 2 tool(s)']);

    endSleep(marker); // the running call ends on its own terms, untouched by the reload
    const r = (await running) as CallToolResult;
    assert.equal((r.structuredContent as { stdout: string }).stdout, 'done\n');
  });

  test('an edit in the tools directory reloads by itself; a broken edit keeps the last good version', async () => {
    const tools = makeToolsDir();
    dirs.push(tools);
    const daemon = await startDaemon({ tools });
    daemons.push(daemon);
    const c = await connectClient(daemon.socket);
    clients.push(c);
    let changed = 0;
    c.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);

    writeFileSync(join(tools, 'shell.toml'), 'description = "broken"\ncommand = ["/bin/sh"]\ncolour = "blue"\n');
    // The profile's error is logged first, the reload's summary right after it.
    assert.equal(await pollUntil(() => daemon.stdout.includes('"keptLastGood":["shell"]'), 10_000), true, daemon.stdout);
    assert.match(daemon.stdout, /new version not served, the last good one stays: .*shell\.toml:3: colour: unknown key/);
    const r = (await c.client.callTool({ name: 'shell', arguments: { script: 'echo still here' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: 'still here\n' }]);

    unlinkSync(join(tools, 'search.toml'));
    assert.equal(await pollUntil(async () => !(await c.client.listTools()).tools.some((t) => t.name === 'search'), 10_000), true);
    assert.ok(changed > 0, 'tools/list_changed reached the client');
  });

  test('SIGTERM drains: a running call finishes, a new call is refused, then the daemon exits 0', async () => {
    const tools = makeToolsDir();
    dirs.push(tools);
    const daemon = await startDaemon({ tools, configToml: 'drain_timeout = "20s"\n' });
    daemons.push(daemon);
    const a = await connectClient(daemon.socket);
    const b = await connectClient(daemon.socket);
    clients.push(a, b);
    const marker = uniqueMarker(987012);
    markers.push(marker);
    const running = a.client.callTool({ name: 'shell', arguments: { script: `sleep ${marker} & wait; echo finished` } }, undefined, { timeout: 60_000 });
    assert.equal(await waitForSleep(marker), true);
    daemon.child.kill('SIGTERM');
    assert.equal(await pollUntil(() => daemon.stdout.includes('stopping: draining'), 5000), true);
    const refused = (await b.client.callTool({ name: 'python', arguments: { code: 'print(1)' } })) as CallToolResult;
    assert.equal(refused.isError, true);
    assert.deepEqual(refused.content, [{ type: 'text', text: 'toolcell: the daemon is stopping; the call was not started (call again once it is back)' }]);
    assert.equal(daemon.running, true, 'still draining');
    endSleep(marker);
    const r = (await running) as CallToolResult;
    assert.equal((r.structuredContent as { stdout: string; reason: string | null }).stdout, 'finished\n');
    assert.equal((r.structuredContent as { reason: string | null }).reason, null);
    const exit = await waitForExit(daemon.child, 10_000);
    assert.deepEqual([exit.code, exit.signal, exit.timedOut], [0, null, false]);
    assert.match(daemon.stdout, /"drained":true/);
    assert.equal(await waitForMarkerGone(marker), true);
  });
});
