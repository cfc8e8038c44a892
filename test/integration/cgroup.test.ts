// Resource limits with real cgroups: each test runs a bomb or a spinner in a real sandbox and
// asserts what the kernel did and what the result reports.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { cgroupParentDirs, cgroupSetup, detectCgroups, reserveInvocationCgroup, sweepStaleCgroups, type InvocationCgroup } from '../../src/linux/cgroup.js';
import { spawnProcess, type SpawnedProcess } from '../../src/linux/spawn-process.js';
import { pollUntil, SLOWDOWN } from '../helpers/daemon.js';
import { asNobody, FORK_BOMB_PY, profileFrom, realKernelSkipReason, scriptToolToml, silentLogger } from '../helpers/fixtures.js';
import { invocationCgroupsOf } from '../helpers/leftovers.js';
import { pidsWithMarker, uniqueMarker, waitForMarkerGone } from '../helpers/processes.js';

const setup = realKernelSkipReason() === undefined ? cgroupSetup() : undefined;
const skip = realKernelSkipReason() ?? (setup?.mode === 'none' ? `no usable cgroups: ${setup.why}` : undefined);

const run = (limits: string, script: string) =>
  runInvocation(asNobody(profileFrom('limited', scriptToolToml({ description: 'limits test', limits, tmpfs: ['/tmp:64M'] }))), { script }, { logger: silentLogger });

/** This process's invocation cgroups (other test files' daemons share the parent). */
const invocationCgroups = () => invocationCgroupsOf(setup, process.pid);

const NOBODY = { uid: 65534, gid: 65534 };

/** `program` started as bwrap is: run-as makes the cgroup, writes its limits and joins it first. */
async function startIn(cg: InvocationCgroup, program: string, args: string[] = []): Promise<SpawnedProcess> {
  const child = await spawnProcess(program, args, { user: NOBODY, cgroup: cg.steps, stdio: ['null', 'null', 'null'] });
  // posix_spawn returns once run-as runs; the program runs once run-as is done.
  assert.ok(await pollUntil(() => readFileSync(`/proc/${child.pid}/comm`, 'utf8') === `${basename(program)}\n`, 5000 * SLOWDOWN, 5), `${program} started`);
  return child;
}

/** A cgroup made (by run-as, for a program that exits at once) and left empty. */
async function made(cg: InvocationCgroup): Promise<void> {
  const child = await spawnProcess('/bin/true', [], { user: NOBODY, cgroup: cg.steps, stdio: ['null', 'null', 'null'] });
  assert.deepEqual(await child.exited, { code: 0, signal: null });
}

/** The parent pid of a process, or undefined once it is gone. */
function ppidOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

describe(`cgroup limits (real cgroups ${setup?.mode ?? ''})`, { skip }, () => {
  test('a memory bomb is killed at its limit and reported as "memory"; the next call is unharmed', async () => {
    // Bounded even without a limit: python stops at 1 GiB.
    const bomb = `python3 -I -c 'b = []
for _ in range(1024): b.append(bytearray(1 << 20))
print("survived")'`;
    const r = await run('memory = "64M"\ntimeout = "20s"', bomb);
    assert.equal(r.reason, 'memory');
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.stdout, '');
    assert.ok(r.peakMemoryBytes !== null && r.peakMemoryBytes <= 64 * 1024 * 1024 + 4096, `peak ${r.peakMemoryBytes}`);
    const next = await run('memory = "64M"', 'echo fine');
    assert.deepEqual([next.stdout, next.reason], ['fine\n', null]);
  });

  test('TCP buffers over the sandbox\'s own lo count against its memory limit (cgroup v1 charges them only when told)', async () => {
    // 60 pairs nobody reads, each filled until the kernel refuses more: bounded even unaccounted
    // (about 4 MiB of send buffer a pair, at most 240 MiB), and released when the call ends.
    const fill = `python3 -I -c '
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
total = 0
held = []
for _ in range(60):
    c = socket.create_connection(srv.getsockname()); c.setblocking(False); held.append(c)
    chunk = bytes(65536)
    while True:
        try:
            total += c.send(chunk)
        except (BlockingIOError, OSError):
            break
print(total // (1 << 20))'`;
    const r = await run('memory = "32M"\ntimeout = "30s"', fill);
    // Counted against the limit, the buffers either stop growing near it or (v2 may charge past
    // it) get the sandbox killed at it; uncounted, 60 pairs queue over 200 MiB and the call ends well.
    if (r.reason === 'memory') {
      assert.equal(r.stdout, '', 'killed before it could report');
      return;
    }
    assert.equal(r.reason, null, r.stderr);
    const mib = Number(r.stdout.trim());
    assert.ok(Number.isInteger(mib) && mib > 0, r.stdout);
    assert.ok(mib <= 40, `${mib} MiB queued in TCP buffers under a 32 MiB limit`);
  });

  test('a fork bomb is capped at pids and reported as "pids"', async () => {
    const bomb = `python3 -I -c '${FORK_BOMB_PY}'`;
    const r = await run('pids = 16\ntimeout = "10s"', bomb);
    assert.equal(r.reason, 'pids');
    assert.equal(r.peakPids, 16);
    assert.equal(r.exitCode, 1);
    // 16 = python (pid 1: bash execs its only command) and 15 children; bwrap's monitor, outside
    // the sandbox, has a pid of its own on top.
    assert.equal(r.stdout, 'forked 15 then: Resource temporarily unavailable\n');
  });

  test('bwrap starts in the invocation cgroup: its monitor is in it, and the sandbox sees it as the root of its cgroup namespace', async () => {
    // `; true` keeps the shell: bash execs a script's last command in its own place.
    const call = run('timeout = "10s"', 'cat /proc/self/cgroup; sleep 1; true');
    // While the tool sleeps: the cgroup holds bwrap's monitor (this process's child, which run-as
    // became), the shell (the sandbox's pid 1) and its sleep.
    const members = () => invocationCgroups().flatMap((dir) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
    const monitors = () => [...new Set(members())].filter((pid) => ppidOf(pid) === process.pid);
    assert.equal(await pollUntil(() => monitors().length === 1 && new Set(members()).size >= 3, 5000 * SLOWDOWN), true, `members ${members().join(' ')}`);
    const r = await call;
    assert.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.length >= (setup?.mode === 'v1' ? 4 : 1), r.stdout);
    for (const line of lines) assert.match(line, /^\d+:[^:]*:\/$/, `${line}: a cgroup path outside the namespace's root`);
  });

  test('a CPU spinner with cpu = 0.5 runs under a quota of half a core and gets no more', async () => {
    const call = run('cpu = 0.5\ntimeout = "2s"', 'while :; do :; done');
    // The kernel's own record of the quota, read while the spinner runs. How much CPU the spinner
    // gets below its quota depends on what else the machine runs (a test VM, other test files), so
    // the floor is not asserted; the ceiling is what the limit promises.
    const quota = () =>
      invocationCgroups().flatMap((dir) => {
        try {
          if (setup?.mode === 'v2') return [readFileSync(join(dir, 'cpu.max'), 'utf8').trim()];
          if (!existsSync(join(dir, 'cpu.cfs_quota_us'))) return [];
          return [`${readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8').trim()} ${readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8').trim()}`];
        } catch {
          return [];
        }
      });
    assert.ok(await pollUntil(() => quota().includes('50000 100000'), 2000 * SLOWDOWN, 5), `quota ${quota().join(', ')}`);
    const r = await call;
    assert.equal(r.reason, 'timeout');
    assert.ok(r.cpuTimeMs !== null && r.cpuTimeMs > 0, `CPU time ${r.cpuTimeMs}`);
    const share = r.cpuTimeMs / r.durationMs;
    assert.ok(share < 0.6, `CPU time ${r.cpuTimeMs} ms over ${r.durationMs} ms = ${share.toFixed(2)} cores`);
  });

  test('a daemonized grandchild is killed at teardown and the cgroup is removed', async () => {
    const marker = uniqueMarker(9006);
    const r = await run('timeout = "5s"', `(setsid sleep ${marker} &); echo started`);
    assert.equal(r.stdout, 'started\n');
    assert.equal(await waitForMarkerGone(marker), true, `left: ${pidsWithMarker(marker).join(', ')}`);
    assert.deepEqual(invocationCgroups(), []);
  });

  test('200 calls leave no invocation cgroup behind', async () => {
    for (let i = 0; i < 200; i++) {
      const r = await run('timeout = "5s"', 'true');
      assert.equal(r.exitCode, 0);
    }
    assert.deepEqual(invocationCgroups(), []);
  });

  test('a cgroup name is taken again only once its cgroup is gone, and the new cgroup starts empty', async () => {
    assert.ok(setup !== undefined && setup.mode !== 'none');
    const limits = { memoryBytes: 64 << 20, swapBytes: 0, pids: 8, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000 };
    // One name per cgroup, whatever the number of hierarchies.
    const names = () => [...new Set(invocationCgroups().map((dir) => dir.slice(dir.lastIndexOf('/') + 1)))];
    const a = reserveInvocationCgroup(setup, limits);
    assert.deepEqual(names(), [], 'a reserved cgroup exists only once run-as has made it');
    const sleeper = await startIn(a, '/bin/sleep', ['30']);
    try {
      const [nameA] = names();
      const b = reserveInvocationCgroup(setup, limits);
      await made(b);
      assert.equal(names().length, 2);
      // The kernel refuses to remove a cgroup a process is in, and its name stays taken.
      await assert.rejects(a.remove(), /cannot remove .*: EBUSY/);
      const c = reserveInvocationCgroup(setup, limits);
      await made(c);
      assert.equal(names().length, 3);
      // dispose kills what is left, then removes it.
      await a.dispose();
      assert.equal((await sleeper.reaped).signal, 'SIGKILL');
      await c.dispose();
      const d = reserveInvocationCgroup(setup, limits);
      await made(d);
      assert.equal(names().length, 2);
      assert.ok(names().includes(nameA!), `${nameA} not taken again: ${names().join(', ')}`);
      for (const dir of invocationCgroups().filter((dir) => dir.endsWith(`/${nameA}`))) assert.equal(readFileSync(join(dir, 'cgroup.procs'), 'utf8'), '', dir);
      await b.remove();
      await d.remove();
    } finally {
      sleeper.kill();
    }
    assert.deepEqual(invocationCgroups(), []);
  });

  test('cgroup v1 controllers mounted together (cpu,cpuacct) share one cgroup: made, joined and removed once', async (t) => {
    if (setup?.mode !== 'v1') {
      t.skip(`cgroup ${setup?.mode ?? 'none'} here: co-mounted v1 controllers do not apply`);
      return;
    }
    // As systemd mounts them: cpuacct's directory is cpu's (here they are separate hierarchies, so
    // the cpu one stands in for the shared one).
    const coMounted = { ...setup, parents: { ...setup.parents, cpuacct: setup.parents.cpu } };
    assert.equal(cgroupParentDirs(coMounted).length, 3);
    const cg = reserveInvocationCgroup(coMounted, { memoryBytes: 64 << 20, swapBytes: 0, pids: 8, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000 });
    assert.deepEqual(cg.steps.map((step) => step.op).filter((op) => op !== 'write'), ['mkdir', 'mkdir', 'mkdir', 'join', 'join', 'join']);
    const sleeper = await startIn(cg, '/bin/sleep', ['30']);
    try {
      assert.match(readFileSync(`/proc/${sleeper.pid}/cgroup`, 'utf8'), /^\d+:cpu:.*\/\d+\.\d+-\d+$/m);
      await cg.dispose();
    } finally {
      sleeper.kill();
    }
    assert.deepEqual(invocationCgroups(), []);
  });

  test('a configured cgroup_root holds the invocation cgroups; a bad one is refused with its reason', async () => {
    assert.ok(setup !== undefined && setup.mode !== 'none');
    // Below this process's own cgroup: the v2 parent it already set up, or its v1 memory cgroup
    // (v1 hierarchies differ per controller here, so the others get the missing levels created).
    const own = readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:memory:(.*)$/m)?.[1];
    const root = setup.mode === 'v2' ? join(setup.parent.slice('/sys/fs/cgroup'.length), 'tctest-root') : join(own ?? '/', `tctest-root-${process.pid}`);
    const before = new Set(allAncestors(root).filter((d) => existsSync(d)));
    let sleeper: SpawnedProcess | undefined;
    try {
      const configured = detectCgroups(root);
      assert.ok(configured.mode !== 'none', configured.mode === 'none' ? configured.why : '');
      assert.equal(configured.mode, setup.mode);
      for (const dir of cgroupParentDirs(configured)) assert.ok(dir.endsWith(root), dir);
      const cg = reserveInvocationCgroup(configured, { memoryBytes: 64 << 20, swapBytes: 0, pids: 8, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000 });
      sleeper = await startIn(cg, '/bin/sleep', ['30']);
      const placed = readFileSync(`/proc/${sleeper.pid}/cgroup`, 'utf8');
      assert.match(placed, new RegExp(`${root}/\\d+\\.\\d+-\\d+$`, 'm'));
      await cg.dispose();
      assert.equal((await sleeper.reaped).signal, 'SIGKILL');
    } finally {
      sleeper?.kill();
      for (const dir of allAncestors(root).reverse()) if (!before.has(dir) && existsSync(dir)) rmdirSync(dir);
    }
    assert.deepEqual(detectCgroups('relative/path'), { mode: 'none', why: 'cgroup_root "relative/path": expected an absolute cgroup path without ".."' });
    assert.deepEqual(detectCgroups('/a/../b'), { mode: 'none', why: 'cgroup_root "/a/../b": expected an absolute cgroup path without ".."' });
  });

  test('the start-up sweep takes only invocation cgroups of dead daemons: with cgroup_root, other cgroups beside them keep their processes', async () => {
    assert.ok(setup !== undefined && setup.mode !== 'none');
    // cgroup_root may name a slice that other cgroups share (or "/"): the sweep kills what is in a
    // cgroup it takes, so one that merely looks like an invocation cgroup must be left alone too.
    const own = readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:memory:(.*)$/m)?.[1];
    const root = setup.mode === 'v2' ? join(setup.parent.slice('/sys/fs/cgroup'.length), 'tctest-sweep') : join(own ?? '/', `tctest-sweep-${process.pid}`);
    const before = new Set(allAncestors(root).filter((d) => existsSync(d)));
    const configured = detectCgroups(root);
    assert.ok(configured.mode !== 'none', configured.mode === 'none' ? configured.why : '');
    // A dead daemon's invocation cgroup (no pid 999999999 runs), and two that are not invocation cgroups.
    const names = { stale: '999999999.1-0', foreign: 'tctest-foreign', lookalike: '999999999.1-0.scope' };
    const sleepers: Record<string, SpawnedProcess> = {};
    try {
      for (const [role, name] of Object.entries(names)) {
        for (const parent of cgroupParentDirs(configured)) mkdirSync(join(parent, name));
        const sleeper = await spawnProcess('/bin/sleep', ['30'], { user: NOBODY, stdio: ['null', 'null', 'null'] });
        sleepers[role] = sleeper;
        for (const parent of cgroupParentDirs(configured)) writeFileSync(join(parent, name, 'cgroup.procs'), String(sleeper.pid));
      }
      assert.deepEqual(await sweepStaleCgroups(configured), [names.stale]);
      assert.equal((await sleepers.stale!.reaped).signal, 'SIGKILL');
      for (const parent of cgroupParentDirs(configured)) {
        assert.equal(existsSync(join(parent, names.stale)), false, `${parent}/${names.stale} removed`);
        for (const role of ['foreign', 'lookalike'] as const) {
          assert.equal(readFileSync(join(parent, names[role], 'cgroup.procs'), 'utf8').trim(), String(sleepers[role]!.pid), `${parent}/${names[role]} still holds its process`);
        }
      }
    } finally {
      for (const sleeper of Object.values(sleepers)) sleeper.kill();
      await Promise.all(Object.values(sleepers).map((s) => s.reaped));
      for (const parent of cgroupParentDirs(configured)) for (const name of Object.values(names)) if (existsSync(join(parent, name))) rmdirSync(join(parent, name));
      for (const dir of allAncestors(root).reverse()) if (!before.has(dir) && existsSync(dir)) rmdirSync(dir);
    }
  });
});

/** Every directory on the way to `root` in every hierarchy in use, shallowest first. */
function allAncestors(root: string): string[] {
  const bases = setup?.mode === 'v2' ? ['/sys/fs/cgroup'] : ['memory', 'pids', 'cpu', 'cpuacct'].map((c) => `/sys/fs/cgroup/${c}`);
  const parts = root.split('/').filter(Boolean);
  return parts.flatMap((_, i) => bases.map((b) => join(b, ...parts.slice(0, i + 1))));
}
