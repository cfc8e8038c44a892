// Nothing outlives its call: a client that hangs up, a cancelled call, a timeout and an output cap
// each end the whole sandbox. Checked from the host, by the marker each sandbox process carries in
// its command line (bwrap's argv holds the script, and the sleep holds its own number).
import { readdirSync } from 'node:fs';
import { createToolUsers, shellProfileToml } from '../helpers/fixtures.js';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import {
  closeQuietly,
  delay,
  connectClient,
  makeToolsDir,
  pollUntil,
  removeDir,
  SLOWDOWN,
  startDaemon,
  type Daemon,
  type DirectClient,
} from '../helpers/daemon.js';
import { describeMarked, killMarked, pidsWithMarker, uniqueMarker, waitForMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';
import { livingOfUids, processesOfUids, uidOf, zombiesOfUids } from '../helpers/leftovers.js';

const skip = realKernelSkipReason();

describe('e2e: teardown of running sandboxes', { skip }, () => {
  let tools: string | undefined;
  let daemon: Daemon | undefined;
  /** Every marker this suite used, checked once more at the end. */
  const markers: string[] = [];
  const mark = (base: number) => {
    const m = uniqueMarker(base);
    markers.push(m);
    return m;
  };
  const clients: DirectClient[] = [];
  const connect = async () => {
    const c = await connectClient(daemon!.socket);
    clients.push(c);
    return c;
  };

  let removeUsers: (() => Promise<void>) | undefined;
  before(async () => {
    removeUsers = await createToolUsers(['slow', 'chatty']);
    tools = makeToolsDir({
      'slow.toml': shellProfileToml('shell with a 1 s time limit', 'timeout = "1s"\noutput = "1M"'),
      'chatty.toml': shellProfileToml('shell with a 64 KiB output cap', 'timeout = "20s"\noutput = "64K"'),
    });
    daemon = await startDaemon({ tools });
  });
  after(async () => {
    for (const c of clients) await closeQuietly(c.client);
    await daemon?.stop();
    removeDir(tools);
    await removeUsers?.();
    // If a teardown assertion failed, its sandboxes may have outlived the daemon: remove them by pid.
    for (const m of markers) killMarked(m);
  });

  test('a client that disconnects mid-call gets its sandbox killed', async () => {
    const marker = mark(987001);
    const { client, socket } = await connect();
    const pending = client.callTool({ name: 'shell', arguments: { script: `sleep ${marker}` } }).then(
      () => 'resolved',
      (e: Error) => `rejected: ${e.message}`,
    );
    assert.equal(await waitForSleep(marker), true, 'the sandboxed sleep runs');
    socket.destroy();
    const gone = await waitForMarkerGone(marker, 5000);
    assert.equal(gone, true, `sandbox processes left after the client hung up:\n${describeMarked(marker)}`);
    assert.match(await pending, /^rejected: /);
  });

  test('a cancelled call (notifications/cancelled) gets its sandbox killed, and the connection goes on', async () => {
    const marker = mark(987004);
    const { client } = await connect();
    const abort = new AbortController();
    const pending = client.callTool({ name: 'shell', arguments: { script: `sleep ${marker}` } }, undefined, { signal: abort.signal }).then(
      () => 'resolved',
      (e: Error) => `rejected: ${e.message}`,
    );
    assert.equal(await waitForSleep(marker), true, 'the sandboxed sleep runs');
    abort.abort('test cancels');
    // The SDK client sends notifications/cancelled and rejects with the abort reason.
    assert.equal(await pending, 'rejected: MCP error -32001: test cancels');
    // The sandbox is killed at once (pidfd SIGKILL), well within a second.
    const gone = await waitForMarkerGone(marker, 1000);
    assert.equal(gone, true, `sandbox processes left after cancellation:\n${describeMarked(marker)}`);
    const r = (await client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
  });

  test('clients that hang up right after sending the call leave no sandbox behind', async () => {
    // The disconnect lands while the sandbox is being spawned: before bwrap has cloned the sandbox's
    // pid 1, or before that pid 1 has armed --die-with-parent. Killing only bwrap then orphans it.
    const prefix = mark(987007);
    const rounds = 24;
    for (let i = 0; i < rounds; i++) {
      const { client, socket } = await connect();
      client.callTool({ name: 'shell', arguments: { script: `sleep ${prefix}${String(i).padStart(2, '0')}` } }).catch(() => {});
      if (i % 4 !== 0) await delay(i % 4);
      socket.destroy();
    }
    // Any sandbox these calls start has started well within this pause.
    await delay(1500);
    const gone = await waitForMarkerGone(prefix, 6000);
    assert.equal(gone, true, `sandboxes left by clients that hung up:\n${describeMarked(prefix)}`);
  });

  test('the time limit kills the whole sandbox, a setsid daemonized child included', async () => {
    const inner = mark(987002);
    const outer = mark(987003);
    const { client } = await connect();
    const started = Date.now();
    const pending = client.callTool({ name: 'slow', arguments: { script: `(setsid sh -c 'sleep ${inner}' &); sleep ${outer}` } });
    // Both processes exist while the call runs, so their absence afterwards means something.
    const sawBoth = await waitForMarker(inner, 5000).then(async (a) => a && (await waitForSleep(outer, 5000)));
    const r = (await pending) as CallToolResult;
    const elapsed = Date.now() - started;
    assert.equal(sawBoth, true, 'both sleeps ran inside the sandbox before the timeout');
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(r.isError, true);
    assert.equal(s.reason, 'timeout');
    assert.equal(s.exitCode, null);
    assert.equal(s.signal, 'SIGKILL');
    assert.equal(s.stdout, '');
    assert.deepEqual(r.content, [{ type: 'text', text: '[toolcell: killed: the time limit ran out]' }]);
    assert.ok(elapsed >= 1000 && elapsed < 8000, `the call took ${elapsed} ms for a 1 s limit`);
    const gone = (await waitForMarkerGone(inner, 5000)) && (await waitForMarkerGone(outer, 5000));
    assert.equal(gone, true, `processes left after the timeout:\n${describeMarked(inner)}\n${describeMarked(outer)}`);
  });

  test('the output cap keeps exactly 64 KiB of stdout, says so, and kills the sandbox', async () => {
    const marker = mark(987005);
    const { client } = await connect();
    const r = (await client.callTool({
      name: 'chatty',
      arguments: { script: `sleep ${marker} & head -c 10000000 /dev/zero | tr '\\0' a; wait` },
    })) as CallToolResult;
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(r.isError, true);
    assert.equal(s.reason, 'output');
    assert.equal(s.stdoutTruncated, true);
    assert.equal(s.stderrTruncated, false);
    assert.equal(typeof s.stdout, 'string');
    assert.equal((s.stdout as string).length, 65536);
    assert.equal(s.stdout, 'a'.repeat(65536));
    assert.equal(s.stderr, '');
    const total = s.stdoutBytes as number;
    assert.ok(total > 65536 && total <= 10_000_000, `stdoutBytes ${total}`);
    const text = (r.content[0] as { text: string }).text;
    assert.ok(text.endsWith(']'));
    assert.equal(
      text,
      `${'a'.repeat(65536)}\n[toolcell: stdout truncated at 64K of ${total} bytes]\n[toolcell: killed: the output limit was reached]`,
    );
    const gone = await waitForMarkerGone(marker, 5000);
    assert.equal(gone, true, `processes left after the output cap:\n${describeMarked(marker)}`);
  });

  test("killed sandboxes leave no exited process: the daemon adopts and reaps a pid 1 whose bwrap died first", async () => {
    // A kill ends the sandbox's pid 1 (the tool), then bwrap, which often dies before it has reaped
    // that pid 1. The orphan would be the host init's to reap (this machine's init takes its time),
    // but the daemon is a subreaper.
    const uids = new Set([uidOf('tc-chatty')]);
    const { client } = await connect();
    for (let i = 0; i < 10; i++) {
      const r = (await client.callTool({ name: 'chatty', arguments: { script: 'yes' } })) as CallToolResult;
      assert.equal((r.structuredContent as { reason: string }).reason, 'output');
    }
    // Each call's teardown waits for its pid 1 to be reaped; this machine's init reaps orphans only
    // every 1-2 s, so without the daemon's own reaping the last calls' would still be here.
    assert.equal(await pollUntil(() => zombiesOfUids(uids).length === 0, 300, 20), true, `not reaped:\n${zombiesOfUids(uids).join('\n')}`);
  });

  test('no sandbox of this suite is left on the host', () => {
    assert.equal(markers.length, 6);
    for (const m of markers) assert.deepEqual(pidsWithMarker(m), [], `marker ${m}`);
  });
});

describe('e2e: ready sandboxes torn down unused', { skip }, () => {
  test('ready sandboxes that expire without a call leave no descriptor of the daemon open', async () => {
    const removeUsers = await createToolUsers(['idle']);
    const tools = makeToolsDir({ 'idle.toml': shellProfileToml('shell', 'timeout = "5s"\noutput = "1M"') }, false);
    const daemon = await startDaemon({ tools, configToml: 'ready_sandboxes = 4\nready_max_age = "1s"\n' });
    let client: DirectClient | undefined;
    try {
      client = await connectClient(daemon.socket);
      const uids = new Set([uidOf('tc-idle')]);
      const fds = () => readdirSync(`/proc/${daemon.pid}/fd`).length;
      // Each call builds ready sandboxes for the tool; with no call after it, they expire and are
      // torn down, their pipes never written (sandbox-exec's argv): each one used to stay open.
      const counts: number[] = [];
      for (let round = 0; round < 4; round++) {
        const r = (await client.client.callTool({ name: 'idle', arguments: { script: 'true' } })) as CallToolResult;
        assert.equal((r.structuredContent as { exitCode: number }).exitCode, 0);
        assert.ok(await pollUntil(() => livingOfUids(uids).length > 0, 5000 * SLOWDOWN), 'ready sandboxes were built');
        assert.ok(await pollUntil(() => livingOfUids(uids).length === 0, 10_000 * SLOWDOWN), `expired: ${processesOfUids(uids).join(', ')}`);
        await delay(200);
        counts.push(fds());
      }
      assert.deepEqual(counts, counts.map(() => counts[0]), `the daemon's descriptors after each round: ${counts.join(', ')}`);
    } finally {
      await closeQuietly(client?.client);
      await daemon.stop();
      removeDir(tools);
      await removeUsers();
    }
  });
});
