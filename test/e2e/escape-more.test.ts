// The escape battery (second part), through the real MCP path against the bundled shell and python
// tools: setuid binaries, /sys and /dev, symlink and hardlink tricks (in the tmpfs and in a writable
// host path), descriptors and environment, and the resource bombs (fork, memory, CPU past the time
// limit, huge output). Each attempt meets its exact denial: errno text, kill reason, exit status.
// Every bomb is bounded on its own (loop counts, a deadline) in case containment failed.
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cgroupSetup } from '../../src/linux/cgroup.js';
import { lookupUserRecord } from '../../src/linux/users.js';
import { callStructured, closeQuietly, connectClient, makeToolsDir, removeDir, SLOWDOWN, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { createUsers, FORK_BOMB_PY, realKernelSkipReason, scriptToolToml } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';

const skip = realKernelSkipReason();
const cgroups = skip === undefined ? cgroupSetup() : undefined;
const noCgroups = cgroups?.mode === 'none' ? `no usable cgroups (${cgroups.why}): limits are not enforced here` : undefined;

interface Out {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly reason: string | null;
  readonly durationMs: number;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly stderrBytes: number;
  readonly peakMemoryBytes: number | null;
  readonly peakPids: number | null;
  readonly cpuTimeMs: number | null;
}

/** The tool with a writable host directory; its user carries the test prefix (the lead runs other tests). */
const LINK_TOOL = 'tcl11links';
const LINK_USER = 'tctest-l11links';

describe('e2e: escape battery, part two (shell, python)', { skip, timeout: 240_000 }, () => {
  let daemon: Daemon;
  let conn: DirectClient;
  let tools: string;
  let hostDir: string;
  let removeUsers: () => Promise<void> = async () => undefined;
  const listeners: Server[] = [];
  const hostRunSocket = `/run/tctest-l11-${process.pid}.sock`;
  const hostTmpSocket = `/tmp/tctest-l11-${process.pid}.sock`;

  before(async () => {
    removeUsers = await createUsers([LINK_USER]);
    const user = await lookupUserRecord(LINK_USER);
    // A host directory the link tool may write, and a host file it must never reach through it.
    hostDir = mkdtempSync('/var/tmp/tc-l11-');
    chownSync(hostDir, user!.uid, user!.gid);
    writeFileSync(join(hostDir, '..', `${hostDir.split('/').pop()}.host-secret`), 'HOST-ONLY\n', { mode: 0o600 });
    // Planted on the host side before the call, as an attacker with the tool's own earlier call would.
    symlinkSync('/etc/shadow', join(hostDir, 'planted-shadow'));
    tools = makeToolsDir({
      [`${LINK_TOOL}.toml`]: scriptToolToml({ description: 'writable host dir', user: LINK_USER, writable: [`${hostDir}:/out`], cwd: '/out', limits: 'timeout = "20s"' }),
    });
    for (const path of [hostRunSocket, hostTmpSocket]) {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(path, resolve));
      listeners.push(server);
    }
    daemon = await startDaemon({ tools });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    for (const l of listeners) l.close(); // removes the socket files
    removeDir(tools);
    if (hostDir) {
      rmSync(`${hostDir}.host-secret`, { force: true });
      removeDir(hostDir);
    }
    await removeUsers();
  });

  const callRaw = async (name: string, args: Record<string, string>) => (await conn.client.callTool({ name, arguments: args })) as CallToolResult;
  const call = (name: string, args: Record<string, string>) => callStructured<Out>(conn.client, name, args);
  const shell = (script: string) => call('shell', { script });
  const python = (code: string) => call('python', { code });

  test('setuid binaries are there but give nothing: every mount is nosuid, NoNewPrivs is set, mount(8) stays unprivileged', async () => {
    const r = await shell(
      [
        'stat -c "%A %u %n" /usr/bin/mount /usr/bin/su',
        'grep -vc nosuid /proc/self/mountinfo',
        'grep NoNewPrivs /proc/self/status',
        'mkdir /tmp/m; /usr/bin/mount -t tmpfs none /tmp/m; echo "mount exit $?"',
      ].join('\n'),
    );
    // The host's root owns them, unmapped in the sandbox's user namespace: the overflow uid 65534.
    assert.equal(r.stdout, '-rwsr-xr-x 65534 /usr/bin/mount\n-rwsr-xr-x 65534 /usr/bin/su\n0\nNoNewPrivs:\t1\nmount exit 32\n');
    assert.equal(r.stderr, 'mount: /tmp/m: must be superuser to use mount.\n       dmesg(1) may have more information after failed mount system call.\n');
  });

  test('/sys is absent and cannot be made; /dev holds only the harmless devices; no block or memory device, no mknod', async () => {
    const r = await shell(
      [
        'echo 1 > /sys/kernel/sysrq; mkdir /sys',
        'ls /dev | tr "\\n" " "; echo',
        'ls /dev/sda /dev/vda /dev/mem /dev/kmem /dev/port /dev/kmsg',
        'mknod /work/null c 1 3; mknod /work/sda b 8 0; mknod /dev/sda b 8 0',
        'cat /dev/tty',
      ].join('\n'),
    );
    assert.equal(r.stdout, 'core fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n');
    assert.equal(
      r.stderr,
      [
        'toolcell-shell: line 1: /sys/kernel/sysrq: No such file or directory',
        // coreutils quotes with ‘’ under the profile's LANG (C.UTF-8).
        'mkdir: cannot create directory ‘/sys’: Read-only file system',
        ...['sda', 'vda', 'mem', 'kmem', 'port', 'kmsg'].map((d) => `ls: cannot access '/dev/${d}': No such file or directory`),
        'mknod: /work/null: Operation not permitted',
        'mknod: /work/sda: Operation not permitted',
        'mknod: /dev/sda: Read-only file system',
        // No controlling terminal (a new session, no pty): ENXIO.
        'cat: /dev/tty: No such device or address',
        '',
      ].join('\n'),
    );
  });

  test('links in the tmpfs: to host files they resolve inside the sandbox only; hardlinks across mounts are EXDEV', async () => {
    const r = await shell(
      [
        'ln -s /etc/shadow /tmp/s; cat /tmp/s',
        'ln -s /proc/1/root/etc/passwd /tmp/p; cat /tmp/p',
        'ln /etc/shadow /tmp/h',
        'ln /usr/bin/su /tmp/su; ln /proc/self/exe /tmp/exe',
        'ln -s /usr/bin/bash /tmp/b; echo x > /tmp/b',
      ].join('\n'),
    );
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      [
        'cat: /tmp/s: No such file or directory',
        'cat: /tmp/p: No such file or directory',
        "ln: failed to access '/etc/shadow': No such file or directory",
        "ln: failed to create hard link '/tmp/su' => '/usr/bin/su': Invalid cross-device link",
        "ln: failed to create hard link '/tmp/exe' => '/proc/self/exe': Invalid cross-device link",
        'toolcell-shell: line 5: /tmp/b: Read-only file system',
        '',
      ].join('\n'),
    );
  });

  test('links in a writable host path: a planted symlink reads nothing of the host; links made inside stay inside', async () => {
    const secret = `../${hostDir.split('/').pop()}.host-secret`;
    const r = await call(LINK_TOOL, {
      script: [
        'cat planted-shadow',
        `cat ${secret}`,
        'ln -s /etc/passwd made-link; cat made-link',
        'ln /usr/bin/su su-copy',
        `ln -s ${hostDir}/../${secret.slice(3)} up; cat up`,
        'echo done',
      ].join('\n'),
    });
    assert.equal(r.stdout, 'done\n');
    assert.equal(
      r.stderr,
      [
        'cat: planted-shadow: No such file or directory',
        // /out's parent inside the sandbox is the sandbox's root, not the host's /var/tmp.
        `cat: ${secret}: No such file or directory`,
        'cat: made-link: No such file or directory',
        "ln: failed to create hard link 'su-copy' => '/usr/bin/su': Invalid cross-device link",
        'cat: up: No such file or directory',
        '',
      ].join('\n'),
    );
    // What the sandbox made is in the host directory as a plain symlink, which the daemon never follows.
    assert.deepEqual(readdirSync(hostDir).sort(), ['made-link', 'planted-shadow', 'up']);
    assert.equal(readFileSync(`${hostDir}.host-secret`, 'utf8'), 'HOST-ONLY\n');
  });

  test("host Unix sockets are not there: the daemon's own, and ones listening in /run and /tmp (ENOENT)", async () => {
    const paths = [daemon.socket, hostRunSocket, hostTmpSocket];
    const r = await python(`import socket
for p in ${JSON.stringify(paths)}:
    try:
        socket.socket(socket.AF_UNIX).connect(p); print(p, "connected")
    except OSError as e:
        print(p, "errno", e.errno)`);
    assert.equal(r.stdout, paths.map((p) => `${p} errno 2\n`).join(''));
  });

  test("the tool is the sandbox's only process, and holds stdin (/dev/null), stdout and stderr only", async () => {
    const r = await python(`import os
for p in sorted(x for x in os.listdir('/proc') if x.isdigit()):
    fds = []
    for fd in sorted(os.listdir(f'/proc/{p}/fd'), key=int):
        try:
            t = os.readlink(f'/proc/{p}/fd/{fd}')
        except FileNotFoundError:
            continue  # the listing's own descriptor, closed by now
        fds.append(fd + ' ' + t.split(':')[0])
    print(p, open(f'/proc/{p}/comm').read().strip(), ' '.join(fds))`);
    assert.equal(r.stderr, '');
    // stdout and stderr are the pipes the daemon reads; sandbox-exec put /dev/null in place of the
    // pipe the argv came through. The tool is pid 1 (bwrap --as-pid-1): no init of bwrap's is
    // inside, holding pipes of its own. No socket, no directory, no host file.
    assert.equal(r.stdout, '1 python3 0 /dev/null 1 pipe 2 pipe\n');
  });

  test("python's environment is exactly the profile's (bwrap adds PWD for the cwd); python is pid 1", async () => {
    const r = await python('import os\nprint(sorted(os.environ.items()))\nprint(os.getpid())');
    assert.equal(r.stdout, "[('HOME', '/tmp'), ('LANG', 'C.UTF-8'), ('PATH', '/usr/local/bin:/usr/bin:/bin'), ('PWD', '/tmp')]\n1\n");
  });

  test('a fork bomb stops at pids = 64 and is reported as "pids"', { skip: noCgroups }, async () => {
    const r = await python(FORK_BOMB_PY);
    assert.equal(r.reason, 'pids');
    assert.equal(r.exitCode, 1);
    // 64 = python (pid 1) and 63 children.
    assert.equal(r.stdout, 'forked 63 then: Resource temporarily unavailable\n');
    assert.equal(r.peakPids, 64);
  });

  test('a memory bomb is killed at memory = 256M and reported as "memory"', { skip: noCgroups }, async () => {
    // Bounded without the limit too: 512 MiB at most, every page touched.
    const r = await python('b = []\nfor _ in range(512): b.append(bytearray(b"\\x01") * (1 << 20))\nprint("survived")');
    assert.equal(r.reason, 'memory');
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.exitCode, null);
    assert.equal(r.stdout, '');
    assert.ok(r.peakMemoryBytes !== null && r.peakMemoryBytes <= 256 * 1024 * 1024 + 64 * 1024, `peak ${r.peakMemoryBytes}`);
    assert.ok(r.peakMemoryBytes > 200 * 1024 * 1024, `the bomb got near its limit: peak ${r.peakMemoryBytes}`);
  });

  test('huge output on stderr is cut at output = 1M, reported as "output", and the sandbox killed', async () => {
    // Bounded without the cap too: 8 MB.
    const raw = await callRaw('shell', { script: 'head -c 8000000 /dev/zero | tr "\\0" e >&2; echo not-reached' });
    const r = raw.structuredContent as unknown as Out;
    assert.equal(raw.isError, true);
    assert.equal(r.reason, 'output');
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.stderrTruncated, true);
    assert.equal(r.stdoutTruncated, false);
    assert.equal(r.stderr, 'e'.repeat(1024 * 1024));
    assert.equal(r.stdout, '');
    // The daemon stops reading at the chunk that crossed the cap (a pipe read is at most 64 KiB).
    assert.ok(r.stderrBytes > 1024 * 1024 && r.stderrBytes <= 1024 * 1024 + 65536, `stderrBytes ${r.stderrBytes}`);
  });
});

describe('e2e: CPU spin past the time limit (the bundled shell, timeout 2 s)', { skip, timeout: 120_000 }, () => {
  let daemon: Daemon;
  let tools: string;
  before(async () => {
    // The bundled shell profile as shipped, but for its 30 s timeout: the test need not wait 30 s.
    const text = readFileSync(join(PROFILES, 'shell.toml'), 'utf8');
    const shortened = text.replace('timeout = "30s"', 'timeout = "2s"');
    assert.notEqual(shortened, text, 'shell.toml has timeout = "30s"');
    tools = makeToolsDir({ 'shell.toml': shortened }, false);
    daemon = await startDaemon({ tools });
  });
  after(async () => {
    await daemon?.stop();
    removeDir(tools);
  });

  test('a spinning loop is killed at the timeout, reported as "timeout", its CPU capped at one core', async () => {
    const { client } = await connectClient(daemon.socket);
    try {
      // Bounded without the timeout too: the loop gives up after 20 s.
      const raw = (await client.callTool({ name: 'shell', arguments: { script: 'end=$((SECONDS+20)); while [ $SECONDS -lt $end ]; do :; done; echo not-reached' } })) as CallToolResult;
      const r = raw.structuredContent as unknown as Out;
      assert.equal(raw.isError, true);
      assert.equal(r.reason, 'timeout');
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(r.exitCode, null);
      assert.equal(r.stdout, '');
      assert.ok(r.durationMs >= 2000 && r.durationMs < 2000 + 3000 * SLOWDOWN, `duration ${r.durationMs} ms`);
      if (!noCgroups) assert.ok(r.cpuTimeMs !== null && r.cpuTimeMs <= r.durationMs * 1.1, `cpu ${r.cpuTimeMs} ms in ${r.durationMs} ms`);
    } finally {
      await closeQuietly(client);
    }
  });
});
