// kill -9 of the daemon mid-call: the sandbox dies with it (bwrap --die-with-parent), and the next
// daemon start removes the invocation cgroups the dead daemon left.
//
// Under cgroup v2 this test's process takes the delegated cgroup first (cgroupSetup moves it into a
// leaf), so the daemons it starts share that leaf and are given the test's parent as cgroup_root:
// that is the by-hand configuration, and both daemons must find the same parent for the sweep.
// The VM test (test/vm) runs this file as the only process of a Delegate=yes scope.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupParentDirs, cgroupSetup } from '../../src/linux/cgroup.js';
import { closeQuietly, connectClient, pollUntil, SLOWDOWN, startDaemon, waitForExit } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { uniqueMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';

const setup = realKernelSkipReason() === undefined ? cgroupSetup() : undefined;
const skip = realKernelSkipReason() ?? (setup?.mode === 'none' ? `no usable cgroups: ${setup.why}` : undefined);
/** One invocation cgroup is one directory in v2, one per controller (memory, pids, cpu, cpuacct) in v1. */
const DIRS_PER_CALL = setup?.mode === 'v2' ? 1 : 4;

const cgroupRoot = setup?.mode === 'v2' ? setup.parent.slice('/sys/fs/cgroup'.length) : undefined;
const configToml = cgroupRoot === undefined ? undefined : `cgroup_root = ${JSON.stringify(cgroupRoot)}\n`;

function cgroupsOf(pid: number): string[] {
  return cgroupPathsOf(pid).map((p) => basename(p));
}

function cgroupPathsOf(pid: number): string[] {
  return (setup ? cgroupParentDirs(setup) : []).flatMap((dir) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${pid}.`)).map((n) => join(dir, n)) : []));
}

describe('e2e: daemon crash and the next start', { skip }, () => {
  test('kill -9 mid-call leaves nothing the next start does not sweep', async () => {
    const first = await startDaemon({ tools: PROFILES, configToml });
    const marker = uniqueMarker(9007);
    const c = await connectClient(first.socket);
    const pending = c.client.callTool({ name: 'shell', arguments: { script: `sleep ${marker}` } }).catch((e: Error) => e);
    try {
      assert.equal(await waitForSleep(marker), true, 'the sandboxed sleep runs');
      // The call's cgroup, and those of the sandboxes built ahead of demand once shell was called.
      const left = cgroupsOf(first.pid).length;
      assert.ok(left >= DIRS_PER_CALL && left % DIRS_PER_CALL === 0, `the invocation cgroups exist (${left} directories)`);
      first.child.kill('SIGKILL');
      await waitForExit(first.child, 5000 * SLOWDOWN);
      assert.equal(await waitForMarkerGone(marker), true, 'the sandbox died with the daemon');
      assert.ok(cgroupsOf(first.pid).length >= left, 'the dead daemon left its cgroups');
      // Every sandbox died with the daemon, the ready ones too: nothing is left in those cgroups.
      const procs = () => cgroupPathsOf(first.pid).flatMap((dir) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
      assert.equal(await pollUntil(() => procs().length === 0, 5000 * SLOWDOWN), true, `processes left in the dead daemon's cgroups: ${procs().join(' ')}`);
    } finally {
      await pending;
      await closeQuietly(c.client);
      await first.stop();
    }
    // Any daemon start sweeps the cgroups of dead daemons in its parent: one started by a test
    // running alongside may have come first, even between a count here and this start (CI saw
    // it). Whoever swept, none may be left after this start, and this start reports its sweep.
    const second = await startDaemon({ tools: PROFILES, configToml });
    try {
      assert.deepEqual(cgroupsOf(first.pid), [], 'swept at start');
      assert.match(second.stdout, /"swept":\d+/);
    } finally {
      await second.stop();
    }
  });
});
