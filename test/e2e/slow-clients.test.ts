// Slow and half-open clients: one caller (root) fills its connection quota with connections that
// never send, that send half a line and stop, and that call for large outputs and never read the
// answers. They must not hold what others need: another caller (a user of this test, through
// `toolcell connect`) is served within a bound throughout, the quota's next connections are refused and closed,
// the daemon's memory stays bounded (it stops reading from a peer that does not read), and a stop
// is not held up by them.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectBridge, delay, makeToolsDir, pollUntil, RawConnection, removeDir, SLOWDOWN, startDaemon, type BridgedClient, type Daemon } from '../helpers/daemon.js';
import { RssWatch } from '../helpers/fuzz.js';
import { bundledAs, createUsers, realKernelSkipReason } from '../helpers/fixtures.js';

const skip = realKernelSkipReason();
const GROUP = 'tctest-l11clients';
const GOOD = 'tctest-l11good';
const TOOL_USER = 'tctest-l11sshell';
const QUOTA = 16;
/** Each non-reading connection asks for this many 1 MB outputs (2 MB answers: text and structured). */
const BIG_CALLS = 80;
/** The daemon idles near 75 MiB and peaks near 130 MiB here; without the pause for non-readers it reached 554 MiB. */
const RSS_BOUND_MIB = 250;

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** For a failure message: the daemon's threads and children (state, wait channel, age) and its last log lines. */
function daemonState(daemon: Daemon): string {
  const ps = (args: string[]) => spawnSync('ps', args, { encoding: 'utf8', timeout: 5000 }).stdout;
  return [
    `daemon threads:\n${ps(['-L', '-o', 'tid,stat,wchan:32,pcpu,comm', '-p', String(daemon.pid)])}`,
    `daemon children:\n${ps(['--ppid', String(daemon.pid), '-o', 'pid,stat,wchan:32,etimes,args'])}`,
    `daemon log (last 30 lines):\n${daemon.stdout.split('\n').slice(-30).join('\n')}`,
  ].join('\n');
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });

describe('e2e: slow and half-open clients', { skip, timeout: 240_000 }, () => {
  let daemon: Daemon;
  let tools: string;
  let good: BridgedClient | undefined;
  const raws: RawConnection[] = [];
  let removeToolUser = async (): Promise<void> => undefined;

  before(async () => {
    run('groupadd', ['--system', GROUP]);
    run('useradd', ['--system', '-U', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', GROUP, GOOD]);
    removeToolUser = await createUsers([TOOL_USER]);
    tools = makeToolsDir({ 'shell.toml': bundledAs('shell', TOOL_USER) }, false);
    daemon = await startDaemon({
      tools,
      // No sandboxes built ahead: their descriptors would blur the count of what connections hold.
      configToml: [`client_group = "${GROUP}"`, `max_connections_per_caller = ${QUOTA}`, 'max_calls_per_caller = 8', 'ready_sandboxes = 0', 'log_level = "warn"', 'drain_timeout = "10s"', ''].join('\n'),
    });
    // The socket's directory must be reachable for the test user (the socket itself is 0660).
    chmodSync(dirname(daemon.socket), 0o755);
  });
  after(async () => {
    for (const r of raws) r.close();
    await closeQuietly(good?.client);
    await daemon?.stop();
    removeDir(tools);
    await removeToolUser();
    spawnSync('userdel', [GOOD]);
    for (const g of [GOOD, GROUP]) spawnSync('groupdel', [g]);
  });

  test('a full quota of silent, half-line and non-reading connections holds nothing another caller needs', async (t) => {
    const rss = new RssWatch(daemon.pid, 50);
    const fdsAtStart = openFds(daemon.pid);
    const open = async () => {
      const r = await RawConnection.open(daemon.socket);
      raws.push(r);
      return r;
    };
    // 5 connect and never send a byte.
    for (let i = 0; i < 5; i++) await open();
    // 5 send half a line and stop (one of them most of max_message_bytes).
    for (let i = 0; i < 5; i++) (await open()).write(i === 0 ? `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${'p'.repeat(3_000_000)}` : '{"jsonrpc":"2.0","id":1,"met');
    // 6 initialize, then call for large outputs and never read a byte of the answers.
    const deaf: RawConnection[] = [];
    for (let i = 0; i < QUOTA - 10; i++) {
      const r = await open();
      await r.initialize();
      r.socket.pause();
      deaf.push(r);
    }
    // One call per deaf connection every 100 ms, so that each gets admitted (max_calls_per_caller)
    // and answered into a buffer nobody reads, unless the daemon stops reading from them.
    const pump = (async () => {
      for (let j = 0; j < BIG_CALLS; j++) {
        for (const [i, r] of deaf.entries()) {
          r.send({ jsonrpc: '2.0', id: `big-${i}-${j}`, method: 'tools/call', params: { name: 'shell', arguments: { script: "head -c 1000000 /dev/zero | tr '\\0' b" } } });
        }
        await delay(100);
      }
    })();

    // The quota is full: one more connection of the same caller gets one error line and is closed.
    const extra = await open();
    const refusal = await extra.next(5000 * SLOWDOWN).catch((e: Error) => {
      // Intermittent here under a full parallel test run: say what the daemon was doing.
      throw new Error(`${e.message}\n${daemonState(daemon)}`);
    });
    assert.deepEqual(refusal, { jsonrpc: '2.0', id: null, error: { code: -32029, message: `root has ${QUOTA} connections open already (max_connections_per_caller)` } });
    assert.equal(await pollUntil(() => extra.closed, 5000), true);
    // 50 more that never close their side: the daemon closes each, so they hold no descriptor of it.
    const refused = await Promise.all(Array.from({ length: 50 }, () => open()));

    // Another caller is served throughout, each call within a bound.
    good = await connectBridge(daemon.socket, GOOD);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      const r = (await good.client.callTool({ name: 'shell', arguments: { script: `echo good-${i}` } })) as CallToolResult;
      times.push(Date.now() - t0);
      assert.deepEqual(r.content, [{ type: 'text', text: `good-${i}\n` }]);
      if (i % 5 === 4) await delay(200); // let the deaf connections' calls run meanwhile
    }
    const slowest = Math.max(...times);
    assert.ok(slowest < 10_000 * SLOWDOWN, `the slowest call of the other caller took ${slowest} ms`);

    // The daemon stopped reading from the deaf peers instead of buffering every answer they asked for.
    await pump;
    await delay(1000);
    rss.sample();
    assert.equal(await pollUntil(() => refused.every((r) => r.closed), 10_000 * SLOWDOWN), true, `${refused.filter((r) => !r.closed).length} refused connections still open`);
    // The quota's connections and the other caller's, and a few for calls in flight: not the 51 refused.
    const fds = openFds(daemon.pid);
    assert.ok(fds <= fdsAtStart + QUOTA + 1 + 8, `the daemon holds ${fds} descriptors (${fdsAtStart} at the start)`);
    const summary = `other caller: 20 calls, slowest ${slowest} ms; daemon peak RSS ${rss.peak.toFixed(1)} MiB with ${deaf.length} non-reading connections that asked for ${deaf.length * BIG_CALLS} x 2 MB`;
    t.diagnostic(summary);
    console.log(`slow clients: ${summary}`);
    assert.ok(rss.peak < RSS_BOUND_MIB, `peak RSS ${rss.peak.toFixed(1)} MiB`);
    assert.equal(daemon.running, true);

    // A stop with all of them still connected: the deaf ones are cut after the grace, the daemon exits 0.
    const started = Date.now();
    const status = await daemon.stop();
    rss.stop();
    assert.deepEqual([status.code, status.timedOut], [0, false]);
    t.diagnostic(`stop with the slow clients connected took ${Date.now() - started} ms`);
  });
});
