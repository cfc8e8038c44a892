// kill -9 of the daemon in the middle of many concurrent calls (shell, python, and a tool with an
// egress allowlist whose sandbox has a veth and firewall tables): every sandbox dies with it, so
// nothing keeps running as a tool's user; the next start on the same socket sweeps the cgroups and
// host firewall tables the dead daemon left, and serves again, network calls included.
//
// The daemon runs in a lab network namespace (test/helpers/test-network.ts) and its tools as users
// of this test (tctest-l11c*), so other tests' daemons on this machine never look like leftovers.
// Under cgroup v2 the daemons get cgroup_root as in crash-sweep.test.ts (both must find the same parent).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cgroupSetup } from '../../src/linux/cgroup.js';
import { closeQuietly, connectClient, makeTempDir, makeToolsDir, pollUntil, removeDir, SLOWDOWN, startDaemon, waitForExit, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { bundledAs, createUsers, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { invocationCgroupsOf, livingOfUids, processesOfUids, sandboxMounts, scratchFilesOfUids, uidOf } from '../helpers/leftovers.js';
import { killMarked, uniqueMarker, waitForSleep } from '../helpers/processes.js';
import { createLab, labSkipReason, type Lab } from '../helpers/test-network.js';

const setup = realKernelSkipReason() === undefined ? cgroupSetup() : undefined;
const skip = realKernelSkipReason() ?? labSkipReason() ?? (setup?.mode === 'none' ? `no usable cgroups: ${setup.why}` : undefined);
const cgroupRoot = setup?.mode === 'v2' ? setup.parent.slice('/sys/fs/cgroup'.length) : undefined;

const USERS = { shell: 'tctest-l11cshell', python: 'tctest-l11cpy', net: 'tctest-l11cnet' } as const;
const SHELLS = 12;
const PYTHONS = 6;
const NETS = 6;

/** A bash tool allowed to reach one lab host: its sandbox has a veth and the daemon a host table for it. */
const NET = (host: string) =>
  scriptToolToml({ description: 'bash with one allowed destination', user: USERS.net, limits: 'timeout = "60s"', sections: `[network]\nallow = ["${host}:8080"]` });

describe(`e2e: kill -9 of the daemon during ${SHELLS + PYTHONS + NETS} concurrent calls, and the next start`, { skip, timeout: 300_000 }, () => {
  let lab: Lab;
  let tools: string;
  let socketDir: string;
  const daemons: Daemon[] = [];
  const clients: DirectClient[] = [];
  const uids = new Set<number>();
  let removeUsers = async (): Promise<void> => undefined;
  const markers: string[] = [];
  const inLab = (args: string[]) => spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), ...args], { encoding: 'utf8', timeout: 20_000 }).stdout ?? '';
  /** Host firewall tables of sandboxes, all or those of one daemon (named toolcell_<daemon pid>_...). */
  const hostTables = (pid?: number) => inLab(['nft', 'list', 'tables']).split('\n').filter((l) => (pid === undefined ? /toolcell_\d/ : new RegExp(`toolcell_${pid}_`)).test(l));
  const veths = () => inLab(['ip', '-o', 'link', 'show', 'type', 'veth']).split('\n').filter((l) => /: tcv\d+@/.test(l));
  const start = async () => {
    const d = await startDaemon({
      tools,
      socket: join(socketDir, 'mcp.sock'),
      wrap: [...lab.inLab, '--'],
      configToml: [...(cgroupRoot === undefined ? [] : [`cgroup_root = ${JSON.stringify(cgroupRoot)}`]), 'max_calls_per_caller = 64', 'max_connections_per_caller = 64', 'log_level = "info"', ''].join('\n'),
    });
    daemons.push(d);
    return d;
  };
  const connect = async (d: Daemon) => {
    const c = await connectClient(d.socket);
    clients.push(c);
    return c;
  };

  before(async () => {
    lab = await createLab();
    removeUsers = await createUsers(Object.values(USERS));
    for (const user of Object.values(USERS)) uids.add(uidOf(user));
    tools = makeToolsDir({ 'shell.toml': bundledAs('shell', USERS.shell), 'python.toml': bundledAs('python', USERS.python), 'net.toml': NET(lab.hostA) }, false);
    socketDir = makeTempDir('tc-crash-');
  });
  after(async () => {
    for (const c of clients) await closeQuietly(c.client);
    for (const d of daemons) await d.stop();
    for (const m of markers) killMarked(m);
    await lab?.close();
    removeDir(tools);
    removeDir(socketDir);
    await removeUsers();
  });

  test('every sandbox dies with the daemon; the next start sweeps and serves on the same socket', async (t) => {
    const first = await start();
    const conns = await Promise.all(Array.from({ length: 4 }, () => connect(first)));
    const marker = uniqueMarker(11_400);
    markers.push(marker);
    const sleeps: string[] = [];
    const pending: Promise<unknown>[] = [];
    const call = (i: number, name: string, args: Record<string, string>) => pending.push(conns[i % conns.length]!.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 }).catch((e: Error) => e));
    for (let i = 0; i < SHELLS; i++) {
      sleeps.push(`${marker}${10 + i}`);
      call(i, 'shell', { script: `sleep ${marker}${10 + i}` });
    }
    for (let i = 0; i < PYTHONS; i++) {
      sleeps.push(`${marker}${30 + i}`);
      call(i, 'python', { code: `import os; os.execv("/bin/sleep", ["sleep", "${marker}${30 + i}"])` });
    }
    for (let i = 0; i < NETS; i++) {
      sleeps.push(`${marker}${50 + i}`);
      // Connected to the allowed host while it sleeps: a live flow through the sandbox's veth.
      call(i, 'net', { script: `exec 3<>/dev/tcp/${lab.hostA}/8080; sleep ${marker}${50 + i}` });
    }
    for (const s of sleeps) assert.equal(await waitForSleep(s, 30_000 * SLOWDOWN), true, `sleep ${s} runs`);
    assert.equal(invocationCgroupsOf(setup, first.pid).length > 0, true, 'the invocation cgroups exist');
    // At least one per network call (a daemon may also hold sandboxes ready in advance).
    assert.ok(hostTables(first.pid).length >= NETS, `one host table per network call: ${hostTables().join('\n')}`);
    assert.ok(veths().length >= NETS);

    first.child.kill('SIGKILL');
    await waitForExit(first.child, 5000 * SLOWDOWN);
    // Looked at first: any daemon that starts on this machine (other test files run at the same
    // time) sweeps the cgroups of dead daemons, this one's included.
    const leftCgroups = invocationCgroupsOf(setup, first.pid).length;
    assert.ok(leftCgroups > 0, 'the dead daemon left its cgroups');
    // Nothing of a tool keeps running: every sandbox died with the daemon (bounded wait). Only a
    // bwrap that never released its sandbox may stay until the next start (bubblewrap issue 633:
    // it is in a cgroup of the dead daemon, see crash-sweep.test.ts).
    const notBwrap = () => livingOfUids(uids).filter((p) => p.name !== 'bwrap').map((p) => `${p.pid} ${p.name}`);
    const gone = await pollUntil(() => notBwrap().length === 0, 10_000 * SLOWDOWN, 50);
    assert.equal(gone, true, `still running as a tool user after the kill:\n${notBwrap().join('\n')}`);
    const unreleased = processesOfUids(uids);
    await Promise.all(pending);
    // The sandboxes' namespaces went with them, and their veths; what the dead daemon made in the
    // lab stays until the next start there: the host firewall tables (and the namespace of a
    // sandbox an unreleased bwrap holds, with its veth: both are checked after the next start).
    if (unreleased.length === 0) assert.equal(await pollUntil(() => veths().length === 0, 10_000 * SLOWDOWN, 100), true, `veths left: ${veths().join('\n')}`);
    else t.diagnostic(`bwraps that never released their sandbox outlived the kill until the next start: ${unreleased.join(', ')}`);
    assert.ok(hostTables(first.pid).length >= NETS, 'the dead daemon left its host tables');
    assert.equal(existsSync(first.socket), true, 'the dead daemon left its socket file');

    const second = await start();
    assert.equal(second.socket, first.socket, 'the same socket path');
    assert.deepEqual(invocationCgroupsOf(setup, first.pid), [], 'cgroups swept at start');
    assert.deepEqual(hostTables(first.pid), [], 'host tables swept at start');
    // The count is not asserted: another test's daemon may have swept some of them first, and this
    // sweep takes other dead daemons' too.
    assert.match(second.stdout, /"swept":\d+/);
    assert.match(second.stdout, /removed the host firewall tables of sandboxes whose daemon is gone/);

    const c = await connect(second);
    const [sh, py, net] = (await Promise.all([
      c.client.callTool({ name: 'shell', arguments: { script: 'echo again' } }),
      c.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } }),
      c.client.callTool({ name: 'net', arguments: { script: `exec 3<>/dev/tcp/${lab.hostA}/8080; head -1 <&3` } }),
    ])) as CallToolResult[];
    assert.deepEqual([sh!.content, py!.content, net!.content], [[{ type: 'text', text: 'again\n' }], [{ type: 'text', text: '42\n' }], [{ type: 'text', text: `hello ${lab.hostA}:8080/tcp\n` }]]);

    const status = await second.stop();
    assert.deepEqual([status.code, status.timedOut], [0, false]);
    assert.equal(await pollUntil(() => processesOfUids(uids).length === 0, 10_000 * SLOWDOWN, 100), true, processesOfUids(uids).join('\n'));
    assert.deepEqual(invocationCgroupsOf(setup, second.pid), []);
    assert.deepEqual(sandboxMounts(), []);
    assert.deepEqual(scratchFilesOfUids(uids), []);
    assert.equal(await pollUntil(() => veths().length === 0, 10_000 * SLOWDOWN, 100), true);
    assert.deepEqual(hostTables(), []);
  });
});
