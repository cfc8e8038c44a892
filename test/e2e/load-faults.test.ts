// Load with faults: 64 concurrent SDK clients x 200 calls of mixed tools (a cheap echo tool for most
// calls, the bundled shell and python, and a tool with an egress allowlist), while 10% of the
// clients hang up in the middle of a call. Every client that stays connected gets every answer,
// with the right content. Then the daemon is stopped (SIGTERM) and only then the host is checked:
// no process and no file of any tool user, no invocation cgroup, no sandbox mount, and in the lab
// namespace the daemon ran in no veth and no firewall table.
//
// The tools run as users of this test (tctest-l11*), so processes of other tests' daemons running
// at the same time on this machine are never mistaken for leftovers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cgroupSetup } from '../../src/linux/cgroup.js';
import { closeQuietly, connectClient, delay, makeToolsDir, pollUntil, removeDir, SLOWDOWN, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { FUZZ_SEED, Prng, RssWatch } from '../helpers/fuzz.js';
import { bundledAs, createUsers, realKernelSkipReason } from '../helpers/fixtures.js';
import { invocationCgroupsOf, processesOfUids, sandboxMounts, scratchFilesOfUids, uidOf } from '../helpers/leftovers.js';
import { killMarked, uniqueMarker, waitForSleep } from '../helpers/processes.js';
import { createLab, labSkipReason, type Lab } from '../helpers/test-network.js';

const skip = realKernelSkipReason() ?? labSkipReason();
const cgroups = skip === undefined ? cgroupSetup() : undefined;

const CLIENTS = Number(process.env.TOOLCELL_LOAD_CLIENTS) || 64;
const CALLS = Number(process.env.TOOLCELL_LOAD_CALLS) || 200;
/** Every tenth client hangs up in the middle of one of its calls: 10%. */
const quits = (client: number) => client % 10 === 3;

const USERS = { echo: 'tctest-l11echo', shell: 'tctest-l11shell', python: 'tctest-l11py', web: 'tctest-l11web' } as const;

const ECHO = `description = "echo its argument"
command = ["/bin/echo", "{x}"]
[input]
type = "object"
required = ["x"]
properties.x = { type = "string" }
[identity]
user = "${USERS.echo}"
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
tmpfs = ["/tmp:1M"]
[limits]
timeout = "20s"
`;

const WEB = (host: string) => `description = "read the first line a lab host sends"
command = ["/bin/bash", "--noprofile", "--norc", "-c", "exec 3<>/dev/tcp/${host}/8080 && read -r line <&3 && echo \\"$line $0\\"", "{x}"]
[input]
type = "object"
required = ["x"]
properties.x = { type = "string" }
[identity]
user = "${USERS.web}"
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
tmpfs = ["/tmp:1M"]
[limits]
timeout = "20s"
[network]
allow = ["${host}:8080"]
`;

type Call = { readonly name: string; readonly arguments: Record<string, string>; readonly expected: string };

/** Call j of a client: mostly the echo tool; every 20th python, every 20th shell, every 100th the network tool. */
function callFor(client: number, j: number, host: string): Call {
  const token = `c${client}-${j}`;
  if (j % 100 === 50) return { name: 'web', arguments: { x: token }, expected: `hello ${host}:8080/tcp ${token}\n` };
  if (j % 20 === 0) return { name: 'python', arguments: { code: `print("${token}")` }, expected: `${token}\n` };
  if (j % 20 === 10) return { name: 'shell', arguments: { script: `echo ${token}` }, expected: `${token}\n` };
  return { name: 'echo', arguments: { x: token }, expected: `${token}\n` };
}

describe(`e2e: load with faults (${CLIENTS} clients x ${CALLS} calls, 10% hang up mid-call)`, { skip, timeout: 600_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  let tools: string;
  const uids = new Set<number>();
  let removeUsers = async (): Promise<void> => undefined;
  const markers: string[] = [];
  const inLab = (args: string[]) => spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), ...args], { encoding: 'utf8', timeout: 20_000 }).stdout ?? '';

  before(async () => {
    lab = await createLab();
    removeUsers = await createUsers(Object.values(USERS));
    for (const user of Object.values(USERS)) uids.add(uidOf(user));
    tools = makeToolsDir({ 'echo.toml': ECHO, 'shell.toml': bundledAs('shell', USERS.shell), 'python.toml': bundledAs('python', USERS.python), 'web.toml': WEB(lab.hostA) }, false);
    daemon = await startDaemon({
      tools,
      wrap: [...lab.inLab, '--'],
      // All clients are root: the per-caller limits must admit 64 of them; max_calls stays at its default.
      configToml: ['max_calls_per_caller = 128', 'max_connections_per_caller = 128', 'max_queued_calls = 256', 'log_level = "warn"', ''].join('\n'),
    });
  });
  after(async () => {
    await daemon?.stop();
    for (const m of markers) killMarked(m);
    await lab?.close();
    removeDir(tools);
    await removeUsers();
  });

  test('every client that stays connected gets every answer; after the stop nothing of any call is left', async (t) => {
    const rng = new Prng(FUZZ_SEED);
    const rss = new RssWatch(daemon.pid, 200);
    const started = Date.now();
    const wrong: string[] = [];
    const answeredBy = new Array<number>(CLIENTS).fill(0);
    let hungUp = 0;

    // Drawn before any client starts, so that a seed always gives the same plan: the call in the
    // middle of which a client hangs up, and how (once its sandbox runs, or a few milliseconds in,
    // while the sandbox is being built).
    const plans = Array.from({ length: CLIENTS }, (_, client) => ({
      quitAt: quits(client) ? rng.int(20, CALLS - 20) : -1,
      waitForRun: rng.int(0, 1) === 0,
      hangUpAfterMs: rng.int(0, 15),
    }));
    const runClient = async (client: number) => {
      const { quitAt, waitForRun, hangUpAfterMs } = plans[client]!;
      const conn: DirectClient = await connectClient(daemon.socket);
      try {
        for (let j = 0; j < CALLS; j++) {
          if (j === quitAt) {
            const marker = uniqueMarker(11_300 + client);
            markers.push(marker);
            void conn.client.callTool({ name: 'shell', arguments: { script: `sleep ${marker}` } }).catch(() => undefined);
            if (waitForRun) await waitForSleep(marker);
            else await delay(hangUpAfterMs);
            conn.socket.destroy();
            hungUp++;
            return;
          }
          const call = callFor(client, j, lab.hostA);
          const r = (await conn.client
            .callTool({ name: call.name, arguments: call.arguments }, undefined, { timeout: 120_000 * SLOWDOWN })
            .catch((e: Error) => Promise.reject(new Error(`call ${j} (${call.name}): ${e.message}`)))) as CallToolResult;
          const text = (r.content[0] as { text?: string } | undefined)?.text;
          if (r.isError || text !== call.expected) wrong.push(`client ${client} call ${j} (${call.name}): ${JSON.stringify(r).slice(0, 400)}`);
          else answeredBy[client]!++;
        }
      } finally {
        await closeQuietly(conn.client);
      }
    };

    const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, i) => runClient(i)));
    const seconds = (Date.now() - started) / 1000;
    const answered = answeredBy.reduce((a, b) => a + b, 0);
    rss.stop();
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`client ${i}: ${(r.reason as Error).message}`] : []));
    const quitters = Array.from({ length: CLIENTS }, (_, i) => i).filter(quits).length;
    const summary = `${answered} calls answered in ${seconds.toFixed(1)} s (${(answered / seconds).toFixed(0)} calls/s), ${hungUp} clients hung up mid-call; daemon peak RSS ${rss.peak.toFixed(1)} MiB`;
    t.diagnostic(summary);
    console.log(`load with faults: ${summary}`);
    // What the daemon warned of (log_level warn) says where a call that never came back was held.
    assert.deepEqual(failures, [], `the daemon's log, last lines:\n${(daemon.stdout + daemon.stderr).slice(-4000)}`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} wrong answers`);
    assert.equal(hungUp, quitters);
    // Every client that stayed connected got all of its answers.
    assert.deepEqual(answeredBy.filter((_, i) => !quits(i)), new Array(CLIENTS - quitters).fill(CALLS));
    assert.equal(daemon.running, true);

    // Only once the daemon has stopped: a daemon may keep things (pre-built sandboxes) while it runs.
    const status = await daemon.stop();
    assert.deepEqual([status.code, status.timedOut], [0, false], daemon.stderr.slice(-2000));
    // The kernel frees exited sandboxes and their namespaces in the background: bounded waits.
    assert.equal(await pollUntil(() => processesOfUids(uids).length === 0, 10_000 * SLOWDOWN, 100), true, `processes of tool users:\n${processesOfUids(uids).join('\n')}`);
    assert.deepEqual(invocationCgroupsOf(cgroups, daemon.pid), []);
    assert.deepEqual(sandboxMounts(), []);
    assert.deepEqual(scratchFilesOfUids(uids), []);
    assert.equal(existsSync(daemon.socket), false, 'the socket is removed');
    const veths = () => inLab(['ip', '-o', 'link', 'show', 'type', 'veth']).split('\n').filter((l) => /: tcv\d+@/.test(l));
    assert.equal(await pollUntil(() => veths().length === 0, 10_000 * SLOWDOWN, 100), true, `veths left: ${veths().join('\n')}`);
    assert.doesNotMatch(inLab(['nft', 'list', 'tables']), /toolcell_\d/);
    // Sandbox network namespaces: a namespace lives while a process, a descriptor or a bind mount
    // holds it. No process of a tool user is left, the daemon (which held descriptors) is gone, none
    // is bound under /run/netns but the test labs (this machine's other tests have theirs); and a
    // veth's sandbox end lives exactly as long as its namespace, so no veth left means no namespace
    // of a network call left either.
    assert.deepEqual(inLab(['ip', 'netns', 'list']).split('\n').filter((l) => l !== '' && !l.startsWith('tctest-')), []);
  });
});
