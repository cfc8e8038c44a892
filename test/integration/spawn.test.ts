// How the daemon starts processes: posix_spawn with descriptors placed exactly, exits reaped
// through pidfds, run-as dropping to a tool's user, and sandbox-exec taking its argv on stdin.
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import koffi from 'koffi';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EXEC_HELPER } from '../../src/linux/gather-host-facts.js';
import { becomeChildSubreaper, Pidfd } from '../../native/libc.js';
import { cgroupSetup, reserveInvocationCgroup, type CgroupStep } from '../../src/linux/cgroup.js';
import { awaitAdopted, RUN_AS, spawnProcess, SpawnError, type StdioSpec } from '../../src/linux/spawn-process.js';
import { encodeArgv } from '../../src/plan/bwrap-command.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { pollUntil } from '../helpers/daemon.js';
import type { PipeWriter } from '../../src/linux/pipe-writer.js';

const skip = realKernelSkipReason();
const USAGE =
  'run-as: usage: run-as UID GID [--mkdir /DIR | --write /FILE VALUE | --write-if-present /FILE VALUE | --cgroup /PATH/cgroup.procs | --cgroup /PATH/tasks]... /PROGRAM [ARG...] (UID and GID not 0)\n';

async function run(file: string, args: readonly string[], opts: { input?: Buffer | string; stdio?: StdioSpec[]; user?: { uid: number; gid: number }; cgroup?: readonly CgroupStep[]; timeoutMs?: number } = {}) {
  const child = await spawnProcess(file, args, { stdio: opts.stdio ?? ['write', 'read', 'read'], user: opts.user, cgroup: opts.cgroup, timeoutMs: opts.timeoutMs, env: { PATH: '/usr/bin:/bin' } });
  let stdout = '';
  let stderr = '';
  (child.streams[1] as Readable).setEncoding('utf8').on('data', (c: string) => (stdout += c));
  (child.streams[2] as Readable).setEncoding('utf8').on('data', (c: string) => (stderr += c));
  (child.streams[0] as PipeWriter | undefined)?.end(opts.input ?? '');
  const exit = await child.exited;
  return { ...exit, stdout, stderr, child };
}

describe('spawning without forking the daemon', { skip }, () => {
  test('stdout and stderr arrive whole before the exit is reported; the exit status is exact', async () => {
    const r = await run('/bin/sh', ['-c', 'head -c 300000 /dev/zero | tr "\\0" x; echo err >&2; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.signal, null);
    assert.equal(r.stdout.length, 300000);
    assert.equal(r.stderr, 'err\n');
  });

  test('a pipe the child reads is written once and closed: more than the pipe holds arrives whole, a reader gone is no error', async () => {
    // 300,000 bytes: the first write takes what the pipe holds (64 KiB), the rest goes on as it drains.
    const big = await run('/bin/sh', ['-c', 'wc -c'], { input: Buffer.alloc(300_000, 'x') });
    assert.deepEqual([big.code, big.stdout.trim()], [0, '300000']);
    // A child that closes the pipe unread and lives on: the write meets a pipe without a reader
    // (EPIPE), which is no error. (Once a child is reaped its pipes are closed, and no write is tried.)
    const gone = await spawnProcess('/bin/sh', ['-c', 'exec 0<&-; exec sleep 30'], { stdio: ['write', 'null', 'null'] });
    try {
      assert.ok(await pollUntil(() => !existsSync(`/proc/${gone.pid}/fd/0`), 5000), 'the child closed its stdin');
      assert.doesNotThrow(() => (gone.streams[0] as PipeWriter).end('late'));
    } finally {
      gone.kill();
    }
    assert.equal((await gone.exited).signal, 'SIGKILL');
    // Never written: closed once the child is reaped, so nothing of it stays open here.
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const unwritten = await spawnProcess('/bin/sh', ['-c', 'cat'], { stdio: ['write', 'read', 'null'] });
    unwritten.kill();
    assert.equal((await unwritten.exited).signal, 'SIGKILL');
    assert.equal(openFds(), before);
  });

  test('a descriptor of the daemon lands on exactly the number asked for, even a small one', async () => {
    // Free the smallest numbers we can, so a source may collide with a target number.
    const held = openSync('/etc/hostname', 'r');
    const r = await run('/bin/sh', ['-c', 'readlink /proc/self/fd/3; readlink /proc/self/fd/4'], { stdio: ['null', 'read', 'read', { fd: held }, 'null'] });
    closeSync(held);
    assert.equal(r.stdout, '/etc/hostname\n/dev/null\n');
  });

  test('nothing else of the daemon is inherited: only the descriptors asked for', async () => {
    const r = await run('/bin/sh', ['-c', 'ls /proc/self/fd']);
    // 0-2, and the descriptor ls itself opens on /proc/self/fd.
    assert.equal(r.stdout, '0\n1\n2\n3\n');
  });

  test('a descriptor a library opened without close-on-exec (libmnl does) is not inherited either', async () => {
    const pipe2 = koffi.load('libc.so.6').func('int pipe2(_Out_ int *fds, int flags)') as unknown as (fds: number[], flags: number) => number;
    const fds = [-1, -1];
    assert.equal(pipe2(fds, 0), 0);
    try {
      const r = await run('/bin/sh', ['-c', 'ls /proc/self/fd']);
      assert.equal(r.stdout, '0\n1\n2\n3\n');
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  });

  test('signals: none blocked, none of 1-31 ignored (Node ignores SIGPIPE); under run-as none ignored at all', async () => {
    const r = await run('/bin/sh', ['-c', 'grep -E "^Sig(Blk|Ign):" /proc/self/status']);
    const [blocked, ignored] = [...r.stdout.matchAll(/^Sig(?:Blk|Ign):\t([0-9a-f]+)$/gm)].map((m) => BigInt(`0x${m[1]}`));
    assert.equal(blocked, 0n);
    assert.equal(ignored! & 0x7fffffffn, 0n, r.stdout);
    // glibc leaves its internal signals 32 and 33 ignored in a posix_spawn child; run-as resets them.
    const tool = await run('/bin/sh', ['-c', 'grep -E "^Sig(Blk|Ign):" /proc/self/status'], { user: { uid: 65534, gid: 65534 } });
    assert.equal(tool.stdout, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  test('a child whose pipes have closed is reaped then, not when its SIGCHLD is handled', async () => {
    // The signal goes to the worker-pool thread that spawned the child, which may hold it for
    // milliseconds (see reapSoon). With the handler taken away, only the look after the pipes
    // closed reaps at once; the sweep once a second would take seconds for five.
    await run('/bin/true', []);
    const handlers = process.listeners('SIGCHLD');
    process.removeAllListeners('SIGCHLD');
    try {
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) assert.equal((await run('/bin/sh', ['-c', 'exit 3'])).code, 3);
      const ms = performance.now() - t0;
      assert.ok(ms < 900, `five children took ${ms.toFixed(0)} ms: reaped by the sweep, not when their pipes closed`);
    } finally {
      for (const h of handlers) process.on('SIGCHLD', h as NodeJS.SignalsListener);
    }
  });

  test('kill() ends it with SIGKILL; a timeout does the same', async () => {
    const child = await spawnProcess('/bin/sleep', ['30'], { stdio: ['null', 'read', 'read'] });
    child.kill();
    assert.deepEqual(await child.exited, { code: null, signal: 'SIGKILL' });
    const t0 = Date.now();
    const r = await run('/bin/sleep', ['30'], { timeoutMs: 100 });
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('a program that does not exist is a SpawnError naming it and the errno', async () => {
    await assert.rejects(spawnProcess('/nonexistent/prog', [], { stdio: ['null', 'null', 'null'] }), (e: Error) => e instanceof SpawnError && /\/nonexistent\/prog.*errno 2/.test(e.message));
  });

  test('run-as: becomes the user with its group only; refuses uid or gid 0', async () => {
    const r = await run('/usr/bin/id', [], { user: { uid: 65534, gid: 65534 } });
    assert.equal(r.stdout, 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
    const status = await run('/bin/grep', ['-E', '^(Uid|Gid|Groups):', '/proc/self/status'], { user: { uid: 65534, gid: 65534 } });
    assert.match(status.stdout, /^Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\s*$/);
    const root = await run(RUN_AS, ['0', '0', '/usr/bin/id']);
    assert.equal(root.code, 127);
    assert.equal(root.stderr, USAGE);
  });

  test('run-as makes the cgroup, writes its limits and joins it as root, before it drops to the user and execs; a step that fails stops it first', async (t) => {
    const setup = cgroupSetup();
    if (setup.mode === 'none') return t.skip(`no usable cgroups: ${setup.why}`);
    const nobody = { uid: 65534, gid: 65534 };
    const cg = reserveInvocationCgroup(setup, { memoryBytes: 64 << 20, swapBytes: 0, pids: 8, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000 });
    const dirs = cg.steps.flatMap((s) => (s.op === 'mkdir' ? [s.path] : []));
    const name = basename(dirs[0]!);
    assert.match(name, new RegExp(`^${process.pid}\\.\\d+-\\d+$`));
    assert.equal(dirs.filter(existsSync).length, 0, 'nothing exists before run-as runs');
    const pidsMax = `${setup.mode === 'v2' ? dirs[0] : dirs.find((d) => d.startsWith('/sys/fs/cgroup/pids/'))}/pids.max`;
    const inside = await run('/bin/sh', ['-c', `id -u; cat /proc/self/cgroup; cat ${pidsMax}`], { user: nobody, cgroup: cg.steps });
    assert.equal(inside.code, 0, inside.stderr);
    assert.match(inside.stdout, /^65534\n/);
    assert.match(inside.stdout, /\n8\n$/, 'the limits were written before the join');
    const joined = inside.stdout.split('\n').filter((l) => l.endsWith(`/${name}`));
    assert.equal(joined.length, dirs.length, `the program starts in every hierarchy of the cgroup:\n${inside.stdout}`);
    // v1 through `tasks`, where run-as moves its one thread without the kernel's global lock (native/run-as.c).
    const joinFiles = cg.steps.flatMap((s) => (s.op === 'join' ? [basename(s.path)] : []));
    assert.deepEqual(joinFiles, dirs.map(() => (setup.mode === 'v1' ? 'tasks' : 'cgroup.procs')));
    // Each kind of step stops run-as with its own message, and the program never starts.
    const missing = '/sys/fs/cgroup/tc-no-such-cgroup';
    const refusals: [CgroupStep, string][] = [
      [{ op: 'join', path: `${missing}/cgroup.procs` }, `run-as: joining cgroup ${missing}/cgroup.procs: No such file or directory`],
      [{ op: 'mkdir', path: `${missing}/child` }, `run-as: creating cgroup ${missing}/child: No such file or directory`],
      [{ op: 'write', path: `${missing}/pids.max`, value: '8', ifPresent: false }, `run-as: writing 8 to ${missing}/pids.max: No such file or directory`],
    ];
    for (const [step, message] of refusals) {
      const refused = await run('/usr/bin/id', [], { user: nobody, cgroup: [step] });
      assert.deepEqual([refused.code, refused.stdout, refused.stderr], [127, '', `${message}\n`]);
    }
    // A limit file the kernel does not have (memory.memsw.* without swap accounting) is skipped when optional.
    const optional = await run('/usr/bin/id', ['-u'], { user: nobody, cgroup: [{ op: 'write', path: `${missing}/memory.memsw.limit_in_bytes`, value: '1', ifPresent: true }] });
    assert.deepEqual([optional.code, optional.stdout], [0, '65534\n']);
    for (const bad of [['--cgroup', 'cgroup.procs'], ['--cgroup', '/sys/fs/cgroup/x/pids.max'], ['--mkdir', 'relative'], ['--write', '/sys/fs/cgroup/x/pids.max'], ['--unknown', '/x']]) {
      const usage = await run(RUN_AS, ['65534', '65534', ...bad, '/usr/bin/id']);
      assert.deepEqual([usage.code, usage.stdout, usage.stderr], [127, '', USAGE], bad.join(' '));
    }
    await assert.rejects(spawnProcess('/usr/bin/id', [], { stdio: ['null', 'null', 'null'], cgroup: cg.steps }), (e: Error) => e instanceof SpawnError && /cgroups are joined by run-as, which needs a user/.test(e.message));
    await cg.dispose();
    assert.equal(dirs.filter(existsSync).length, 0, 'removed');
  });

  test('sandbox-exec: runs the argv it reads, with /dev/null as stdin; refuses a malformed one', async () => {
    const ok = await run(EXEC_HELPER, [], { input: encodeArgv(['/bin/sh', '-c', 'readlink /proc/self/fd/0; echo "$1|$2"', 'sh', 'two words', '']) });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, '/dev/null\ntwo words|\n');
    const unterminated = await run(EXEC_HELPER, [], { input: Buffer.from('/bin/true') });
    assert.deepEqual([unterminated.code, unterminated.stderr], [127, 'sandbox-exec: argv not NUL-terminated\n']);
    const missing = await run(EXEC_HELPER, [], { input: encodeArgv(['/nonexistent/tool']) });
    assert.deepEqual([missing.code, missing.stderr], [127, 'sandbox-exec: exec /nonexistent/tool: No such file or directory\n']);
    const discarded = await run(EXEC_HELPER, [], { input: '' });
    assert.deepEqual([discarded.code, discarded.stderr], [0, '']);
  });

  test("as a subreaper, what a child leaves running becomes ours, and awaitAdopted reaps it once it exits", async () => {
    // This test file's own process, as the daemon is at its start.
    becomeChildSubreaper();
    const r = await run('/bin/sh', ['-c', 'sleep 0.3 >/dev/null 2>&1 & echo $!']);
    const orphan = Number(r.stdout.trim());
    const pidfd = Pidfd.open(orphan);
    assert.ok(pidfd, 'the orphan still runs');
    assert.equal(Number(readFileSync(`/proc/${orphan}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]), process.pid, 'adopted by this process');
    assert.equal(pidfd.reapAdopted(), 'running');
    await awaitAdopted(pidfd);
    pidfd.close();
    assert.equal(existsSync(`/proc/${orphan}`), false, 'reaped, not left a zombie');
  });

  test('a process that is no child of ours counts as gone at once: another process reaps it', async () => {
    const parent = Pidfd.open(process.ppid)!;
    assert.equal(parent.reapAdopted(), 'gone');
    await awaitAdopted(parent);
    parent.close();
    assert.equal(existsSync(`/proc/${process.ppid}`), true, 'and it is left alone');
  });
});
