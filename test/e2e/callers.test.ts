// Who calls: users made by this test connect to a real daemon through `toolcell connect`; the
// kernel's peer credentials decide what each one sees and may call, and the audit line carries
// the caller (uid, name, pid) and a digest of the arguments, never their values.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectBridge, makeToolsDir, pollUntil, RawConnection, removeDir, startDaemon, type BridgedClient, type Daemon } from '../helpers/daemon.js';
import { createToolUsers, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { pidsWithArgv, uniqueMarker, waitForSleep } from '../helpers/processes.js';

const skip = realKernelSkipReason();
const GROUP = 'tctest-clients';
const TEAM = 'tctest-team';
const USERS = { alice: 'tctest-alice', bob: 'tctest-bob', eve: 'tctest-eve' } as const;

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });

/**
 * A raw connection the daemon let in (initialized). A connection of the same caller that is still
 * closing on the daemon's side (startDaemon's probe, an earlier test's) may hold its last place
 * for a moment: one refused then is closed at once, and the next try gets in.
 */
async function letIn(socket: string): Promise<RawConnection> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = await RawConnection.open(socket);
    // A refused connection may be closed before its error line is read: that is a refusal too.
    const reply = await r.initialize().catch(() => undefined);
    if (reply !== undefined && 'result' in reply) return r;
    r.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the daemon never let the connection in');
}

describe('e2e: callers (peer credentials, [callers], audit)', { skip }, () => {
  let daemon: Daemon;
  let tools: string;
  let removeToolUsers: () => Promise<void> = async () => undefined;
  const clients: BridgedClient[] = [];

  before(async () => {
    run('groupadd', ['--system', GROUP]);
    run('groupadd', ['--system', TEAM]);
    run('useradd', ['--system', '-U', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', `${GROUP},${TEAM}`, USERS.alice]);
    run('useradd', ['--system', '-U', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', GROUP, USERS.bob]);
    run('useradd', ['--system', '-U', '--no-create-home', '--shell', '/usr/sbin/nologin', USERS.eve]);
    removeToolUsers = await createToolUsers(['open', 'alices', 'teams']);
    tools = makeToolsDir(
      {
        'open.toml': scriptToolToml({ description: 'anyone who may connect' }),
        'alices.toml': scriptToolToml({ description: 'alice only', sections: `[callers]\nusers = ["${USERS.alice}"]` }),
        'teams.toml': scriptToolToml({ description: 'the team', extra: 'log_arguments = true', sections: `[callers]\ngroups = ["${TEAM}"]` }),
      },
      false,
    );
    daemon = await startDaemon({
      tools,
      configToml: [`client_group = "${GROUP}"`, 'max_calls_per_caller = 1', 'max_connections_per_caller = 3', 'max_messages_per_second = 50', 'max_message_bytes = "1K"', ''].join('\n'),
    });
    // The socket's own directory must be reachable for the test users (the socket itself is 0660).
    chmodSync(dirname(daemon.socket), 0o755);
  });

  after(async () => {
    for (const c of clients) await closeQuietly(c.client);
    await daemon?.stop();
    removeDir(tools);
    await removeToolUsers();
    for (const u of Object.values(USERS)) spawnSync('userdel', [u]);
    for (const g of [...Object.values(USERS), GROUP, TEAM]) spawnSync('groupdel', [g]);
  });

  const connectAs = async (user: string) => {
    const c = await connectBridge(daemon.socket, user);
    clients.push(c);
    return c;
  };

  test('a member of the client group sees the tools its [callers] grant; another member sees fewer', async () => {
    const alice = await connectAs(USERS.alice);
    assert.deepEqual((await alice.client.listTools()).tools.map((t) => t.name).sort(), ['alices', 'open', 'teams']);
    const r = (await alice.client.callTool({ name: 'alices', arguments: { script: 'id -u' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: `${execFileSync('id', ['-u', 'tc-alices'], { encoding: 'utf8' })}` }]);

    const bob = await connectAs(USERS.bob);
    assert.deepEqual((await bob.client.listTools()).tools.map((t) => t.name), ['open']);
    // A tool bob may not use is answered exactly like one that does not exist.
    const denied = await bob.client.callTool({ name: 'alices', arguments: { script: 'id' } }).then(() => 'called', (e: Error) => e.message);
    const unknown = await bob.client.callTool({ name: 'nosuch', arguments: { script: 'id' } }).then(() => 'called', (e: Error) => e.message);
    assert.equal(denied, 'MCP error -32602: Unknown tool: alices');
    assert.equal(unknown, 'MCP error -32602: Unknown tool: nosuch');
  });

  test('someone outside the client group cannot connect: EACCES from the kernel', () => {
    const r = spawnSync('setpriv', [`--reuid=${USERS.eve}`, `--regid=${USERS.eve}`, '--init-groups', '--', process.execPath, 'bin/toolcell.js', 'connect', '--socket', daemon.socket], {
      encoding: 'utf8',
      input: '',
      timeout: 15_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /EACCES/);
  });

  test('the audit line names the caller by uid, name and pid, and digests the arguments without their values', async () => {
    const alice = await connectAs(USERS.alice);
    const marker = `secret-looking-${uniqueMarker(1)}`;
    const args = { script: `echo ${marker} >/dev/null` };
    await alice.client.callTool({ name: 'open', arguments: args });
    // The audit line follows the answer (it carries the teardown's receipt): wait for it.
    const seen = await pollUntil(() => daemon.stdout.split('\n').some((l) => l.includes('"msg":"invocation"') && l.includes(`"pid":${alice.transport.pid}`)), 5000);
    assert.equal(seen, true, daemon.stdout);
    const audit = daemon.stdout
      .split('\n')
      .filter((l) => l.includes('"msg":"invocation"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => (l.caller as { pid: number } | undefined)?.pid === alice.transport.pid);
    const uid = Number(execFileSync('id', ['-u', USERS.alice], { encoding: 'utf8' }).trim());
    assert.deepEqual(audit?.caller, { uid, user: USERS.alice, pid: alice.transport.pid });
    assert.equal(audit?.argsSha256, createHash('sha256').update(JSON.stringify(args)).digest('hex'));
    assert.match(String(audit?.profileDigest), /^[0-9a-f]{64}$/);
    // The teardown receipt: every step done, the cgroup (emptied first) among them.
    assert.deepEqual(Object.keys(audit?.teardown as object).sort(), ['clear timer', 'detach abort', 'kill sandbox', 'remove cgroup']);
    assert.deepEqual(new Set(Object.values(audit?.teardown as object)), new Set(['ok']));
    assert.equal(daemon.stdout.includes(marker), false, 'argument values never reach the log');
    // ... unless the profile opts in.
    const logged = { script: `echo ${marker}-logged >/dev/null` };
    await alice.client.callTool({ name: 'teams', arguments: logged });
    assert.equal(await pollUntil(() => daemon.stdout.includes(`${marker}-logged`), 5000), true);
    const line = daemon.stdout.split('\n').find((l) => l.includes(`${marker}-logged`))!;
    assert.deepEqual((JSON.parse(line) as { arguments: unknown }).arguments, logged);
  });

  test('max_calls_per_caller: a second call of the same caller is refused at once, naming the limit, while another caller proceeds', async () => {
    const alice = await connectAs(USERS.alice);
    const bob = await connectAs(USERS.bob);
    const marker = uniqueMarker(987021);
    const running = alice.client.callTool({ name: 'open', arguments: { script: `sleep ${marker} & wait; echo finished` } });
    try {
      assert.equal(await waitForSleep(marker), true);
      const refused = (await alice.client.callTool({ name: 'open', arguments: { script: 'echo second' } })) as CallToolResult;
      assert.equal(refused.isError, true);
      assert.deepEqual(refused.content, [{ type: 'text', text: `toolcell: ${USERS.alice} already has 1 call running (max_calls_per_caller); call again when one has finished` }]);
      assert.deepEqual(refused.structuredContent, { refused: { limit: 'max_calls_per_caller', value: 1 } });
      const other = (await bob.client.callTool({ name: 'open', arguments: { script: 'echo bob' } })) as CallToolResult;
      assert.deepEqual(other.content, [{ type: 'text', text: 'bob\n' }]);
    } finally {
      for (const pid of pidsWithArgv(['sleep', marker])) process.kill(pid, 'SIGKILL');
    }
    assert.equal(((await running) as CallToolResult).content[0]?.type, 'text');
    const after = (await alice.client.callTool({ name: 'open', arguments: { script: 'echo again' } })) as CallToolResult;
    assert.deepEqual(after.content, [{ type: 'text', text: 'again\n' }], 'the slot came back');
  });

  test('max_connections_per_caller: one connection too many gets one error line and is closed', async () => {
    const raws = [await RawConnection.open(daemon.socket), await RawConnection.open(daemon.socket), await RawConnection.open(daemon.socket)];
    try {
      for (const r of raws) assert.equal(((await r.initialize()).result as { serverInfo: { name: string } }).serverInfo.name, 'toolcell');
      const extra = await RawConnection.open(daemon.socket);
      raws.push(extra);
      assert.deepEqual(await extra.next(), { jsonrpc: '2.0', id: null, error: { code: -32029, message: 'root has 3 connections open already (max_connections_per_caller)' } });
      assert.equal(await pollUntil(() => extra.closed, 5000), true);
    } finally {
      for (const r of raws) r.close();
    }
  });

  test('max_connections_per_caller: a refused connection is closed even when its peer keeps its side open, and what it sends is not read', async () => {
    const raws = [await letIn(daemon.socket), await letIn(daemon.socket), await letIn(daemon.socket)];
    const halfOpen = createConnection({ path: daemon.socket, allowHalfOpen: true });
    let received = '';
    let closed = false;
    halfOpen.on('error', () => {});
    halfOpen.setEncoding('utf8').on('data', (c: string) => (received += c));
    halfOpen.on('close', () => (closed = true));
    // Unterminated bytes, fewer than max_message_bytes: a daemon that read them would answer nothing.
    const pump = setInterval(() => halfOpen.writable && halfOpen.write('x'), 50);
    try {
      assert.equal(await pollUntil(() => received.includes('\n'), 5000), true);
      assert.deepEqual(JSON.parse(received.slice(0, received.indexOf('\n'))), {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32029, message: 'root has 3 connections open already (max_connections_per_caller)' },
      });
      assert.equal(await pollUntil(() => closed, 5000), true, 'the daemon closed the connection: writing to it failed');
      assert.equal(received.slice(received.indexOf('\n') + 1), '', 'nothing after the error line');
    } finally {
      clearInterval(pump);
      halfOpen.destroy();
      for (const r of raws) r.close();
    }
  });

  test('a flood of oversized messages on one connection is rate-limited and does not hold up another connection', async () => {
    const flood = await RawConnection.open(daemon.socket);
    const bob = await connectBridge(daemon.socket, USERS.bob);
    clients.push(bob);
    const junk = `${'x'.repeat(4096)}\n`.repeat(16);
    const floodStart = Date.now();
    for (let i = 0; i < 50; i++) flood.write(junk);
    let sent = 800;
    const pump = setInterval(() => {
      if (sent < 2000) {
        flood.write(junk);
        sent += 16;
      }
    }, 5);
    try {
      const t0 = Date.now();
      const r = (await bob.client.callTool({ name: 'open', arguments: { script: 'echo through' } })) as CallToolResult;
      assert.deepEqual(r.content, [{ type: 'text', text: 'through\n' }]);
      assert.ok(Date.now() - t0 < 15_000, 'the other connection was served while the flood went on');
    } finally {
      clearInterval(pump);
    }
    // The flood got 50 "too large" answers plus what the bucket refilled (50 a second), and one
    // rate-limit error a second at most.
    const replies: Record<string, unknown>[] = [];
    for (;;) {
      try {
        replies.push(await flood.next(500));
      } catch {
        break;
      }
    }
    flood.close();
    const seconds = (Date.now() - floodStart) / 1000;
    const codes = replies.map((x) => (x.error as { code: number }).code);
    const tooLarge = codes.filter((c) => c === -32600).length;
    assert.ok(tooLarge <= 50 * (1 + seconds) + 1, `${tooLarge} too-large replies in ${seconds} s`);
    assert.ok(codes.includes(-32029), 'a rate-limit error was sent');
    assert.ok(codes.length < sent / 4, `${codes.length} replies to ${sent} oversized messages`);
  });
});

/** CPU time of the processes a daemon has reaped (cutime + cstime of /proc/PID/stat), in ticks. */
function reapedChildrenTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[13]) + Number(fields[14]);
}

test('a connection over the limit is refused before its user is looked up: 50 of them start no process of the daemon', { skip, timeout: 60_000 }, async () => {
  // A quiet daemon: no ready sandboxes and no calls, so the only processes it could start are the
  // user lookups (getent, id: some 2-9 ms of CPU per connection) that a refusal must not need.
  const tools = makeToolsDir({}, false);
  const daemon = await startDaemon({ tools, configToml: 'max_connections_per_caller = 1\nready_sandboxes = 0\n' });
  const raws: RawConnection[] = [];
  try {
    const first = await letIn(daemon.socket);
    raws.push(first);
    // tools/list waits for the caller's lookup: its processes are reaped before the count starts.
    first.send({ jsonrpc: '2.0', id: 'list', method: 'tools/list' });
    await first.next();
    const before = reapedChildrenTicks(daemon.pid);
    const refused = await Promise.all(Array.from({ length: 50 }, () => RawConnection.open(daemon.socket)));
    raws.push(...refused);
    for (const r of refused) assert.deepEqual(await r.next(), { jsonrpc: '2.0', id: null, error: { code: -32029, message: 'root has 1 connections open already (max_connections_per_caller)' } });
    // Lookups would have added 100 processes' CPU here (10-40 ticks); none may be left to reap.
    assert.equal(await pollUntil(() => refused.every((r) => r.closed), 5000), true);
    const ticks = reapedChildrenTicks(daemon.pid) - before;
    assert.ok(ticks <= 1, `the daemon reaped ${ticks} ticks of children's CPU while refusing 50 connections`);
  } finally {
    for (const r of raws) r.close();
    await daemon.stop();
    removeDir(tools);
  }
});
