// Real bwrap, real kernel: each test attempts an escape through the invocation lifecycle and
// asserts the exact denial the sandbox gives.
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import type { ToolResult } from '../../src/invocation/tool-result.js';
import type { Profile } from '../../src/profile/profile.js';
import { asNobody, profileFrom, realKernelSkipReason, shellProfile, silentLogger } from '../helpers/fixtures.js';
import { pidsWithMarker, uniqueMarker, waitForMarker, waitForMarkerGone } from '../helpers/processes.js';

const skip = realKernelSkipReason();

function sh(script: string, profile: Profile = shellProfile(), signal?: AbortSignal): Promise<ToolResult> {
  return runInvocation(asNobody(profile), { script }, { logger: silentLogger, signal });
}

describe('sandbox (real bwrap)', { skip }, () => {
  test('runs as the unprivileged user with no capabilities and no new privileges', async () => {
    const r = await sh('id -u; id -G; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs):" /proc/self/status');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, '65534\n65534\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n');
  });

  test('host secrets and homes are absent', async () => {
    const r = await sh('cat /etc/shadow; ls /home; ls /root; echo done');
    assert.equal(r.stdout, 'done\n');
    assert.equal(
      r.stderr,
      'cat: /etc/shadow: No such file or directory\n' +
        "ls: cannot access '/home': No such file or directory\n" +
        "ls: cannot access '/root': No such file or directory\n",
    );
  });

  test('the root is only the profile binds', async () => {
    const r = await sh('ls /');
    assert.deepEqual(r.stdout.trim().split('\n'), ['bin', 'dev', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr', 'work']);
  });

  test('writes outside the tmpfs mounts fail with EROFS', async () => {
    const r = await sh('touch /usr/x; touch /newfile; mkdir /dev/x; echo x > /dev/null; echo ok > /work/f && cat /work/f');
    assert.equal(r.stdout, 'ok\n');
    assert.equal(
      r.stderr,
      "touch: cannot touch '/usr/x': Read-only file system\n" +
        "touch: cannot touch '/newfile': Read-only file system\n" +
        "mkdir: cannot create directory ‘/dev/x’: Read-only file system\n",
    );
  });

  test('tmpfs mounts have the profile size, /dev/shm too', async () => {
    const r = await sh('df -k --output=target,size /work /tmp /dev/shm | tail -n +2 | tr -s " "');
    assert.equal(r.stdout, '/work 16384\n/tmp 16384\n/dev/shm 16384\n');
    const fill = await sh('head -c 20000000 /dev/zero > /work/big; echo $?; ls -l /work/big | cut -d" " -f5');
    assert.equal(fill.stdout, '1\n16777216\n');
    assert.match(fill.stderr, /No space left on device/);
  });

  test('nothing persists between calls', async () => {
    await sh('echo left > /work/f; echo left > /tmp/f; echo left > /dev/shm/f');
    const r = await sh('ls -A /work /tmp /dev/shm');
    assert.equal(r.stdout, '/dev/shm:\n\n/tmp:\n\n/work:\n');
  });

  test('no network interface but lo, and no route out', async () => {
    const r = await sh('tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; cat /proc/net/route | wc -l; exec 3<>/dev/tcp/127.0.0.1/22');
    assert.equal(r.stdout, 'lo\n1\n');
    assert.match(r.stderr, /connect: (Connection refused|Network is unreachable)/);
  });

  test('host processes are invisible: only the sandbox pid namespace', async () => {
    // bash expands the glob before it forks cat: the list is the shell alone, pid 1 (bwrap runs the
    // program as the sandbox's pid 1, with no init of its own).
    const r = await sh('cat /proc/[0-9]*/comm > /tmp/p; sort -u /tmp/p; echo /proc/[0-9]*');
    assert.equal(r.stdout, 'bash\n/proc/1\n');
  });

  test('a nested user namespace cannot be created', async () => {
    const r = await sh('unshare --user --map-root-user true; echo rc=$?');
    assert.match(r.stdout, /rc=1/);
    assert.match(r.stderr, /unshare failed: (No space left on device|Operation not permitted)/);
  });

  test('the environment is exactly the profile env plus PATH, HOME, LANG', async () => {
    const r = await sh('env | sort', shellProfile(undefined, 'env = { FOO = "bar" }'));
    assert.equal(r.stdout, 'FOO=bar\nHOME=/work\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\nPWD=/work\nSHLVL=1\n_=/usr/bin/env\n');
  });

  test('what the cgroup does not hold: 1024 descriptors (soft and hard), no core dumps, the highest OOM score', async () => {
    const r = await sh('ulimit -Sn; ulimit -Hn; ulimit -Hc; cat /proc/self/oom_score_adj; ulimit -n 2048 2>/dev/null || echo "raise refused"');
    assert.equal(r.stdout, '1024\n1024\n0\n1000\nraise refused\n');
  });

  test('a tool that is not a terminal tool gets no pty: /dev/ptmx is /dev/null', async () => {
    const r = await sh('(exec 3<>/dev/ptmx) 2>/dev/null; echo "open: $?"; stat -c %t:%T "$(readlink -f /dev/ptmx)"; script -qec true /dev/null; echo "script: $?"');
    // 1:3 is /dev/null's device number, on a nodev bind: it does not even open. script(1) finds
    // no pty to run its command on.
    assert.equal(r.stdout, 'open: 1\n1:3\nscript: 1\n');
  });

  test('the tool is pid 1 itself: no process of bwrap, nor sandbox-exec, is left inside', async () => {
    const r = await sh('echo $$; readlink /proc/1/exe; true');
    assert.equal(r.stdout, '1\n/usr/bin/bash\n');
  });

  test('as pid 1, the tool ignores a signal it sends itself without a handler (the timeout below still ends it)', async () => {
    const r = await sh('kill -TERM $$; kill -INT $$; echo survived');
    assert.deepEqual([r.stdout, r.exitCode, r.signal], ['survived\n', 0, null]);
  });

  test('as pid 1, a write to a pipe without a reader fails with EPIPE instead of ending the tool with SIGPIPE', async () => {
    // The kernel's SIGPIPE for the tool's own write is ignored as its own signals are (no handler).
    const r = await sh('exec 1> >(true); wait $!; echo lost; echo "echo exit $?" >&2');
    assert.deepEqual([r.stdout, r.stderr, r.exitCode, r.signal], ['', 'toolcell-test: line 1: echo: write error: Broken pipe\necho exit 1\n', 0, null]);
  });

  test('the timeout kills a double-forked, setsid grandchild', async () => {
    const marker = uniqueMarker(9001);
    const profile = shellProfile('timeout = "1s"');
    const r = await sh(`(setsid sh -c 'sleep ${marker}1' &); (sleep ${marker}2 &); sleep ${marker}3`, profile);
    assert.equal(r.reason, 'timeout');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(r.durationMs >= 1000 && r.durationMs < 5000, `duration ${r.durationMs}`);
    assert.equal(await waitForMarkerGone(marker), true, `left behind: ${pidsWithMarker(marker).join(', ')}`);
  });

  test('background processes die when the tool exits', async () => {
    const marker = uniqueMarker(9002);
    const r = await sh(`(setsid sleep ${marker} &); echo started`);
    assert.equal(r.stdout, 'started\n');
    assert.equal(r.exitCode, 0);
    assert.equal(await waitForMarkerGone(marker), true, `left behind: ${pidsWithMarker(marker).join(', ')}`);
  });

  test('cancellation kills the sandbox', async () => {
    const marker = uniqueMarker(9003);
    const ac = new AbortController();
    const running = sh(`sleep ${marker}`, shellProfile(), ac.signal);
    assert.equal(await waitForMarker(`sleep ${marker}`), true, 'the tool started');
    ac.abort();
    const r = await running;
    assert.equal(r.reason, 'cancelled');
    assert.equal(await waitForMarkerGone(marker), true, `left behind: ${pidsWithMarker(marker).join(', ')}`);
  });

  test('100 MB of output: capped, marked, killed, and the daemon does not hold it', async () => {
    const before = process.memoryUsage().rss;
    const r = await sh('head -c 100000000 /dev/zero | tr "\\0" a; echo never-reached', shellProfile('output = "1M"\ntimeout = "20s"'));
    const grown = process.memoryUsage().rss - before;
    assert.equal(r.reason, 'output');
    assert.equal(r.stdoutTruncated, true);
    assert.equal(Buffer.byteLength(r.stdout), 1024 * 1024);
    assert.ok(r.stdoutBytes > 1024 * 1024 && r.stdoutBytes < 100_000_000, `read ${r.stdoutBytes} bytes`);
    assert.ok(grown < 48 * 1024 * 1024, `daemon RSS grew by ${grown} bytes`);
  });

  test('stdout and stderr are separate, exit status reported', async () => {
    const r = await sh('echo out; echo err >&2; exit 7');
    assert.deepEqual([r.stdout, r.stderr, r.exitCode, r.signal, r.reason], ['out\n', 'err\n', 7, null, null]);
  });

  test('a sandbox that cannot be built reports reason "setup" and bwrap\'s error', async () => {
    const profile = profileFrom(
      'badcwd',
      `description = "x"
command = ["/bin/true"]
cwd = "/nonexistent"
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
`,
    );
    const r = await runInvocation(asNobody(profile), {}, { logger: silentLogger });
    assert.equal(r.reason, 'setup');
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /^bwrap: Can't chdir to \/nonexistent: No such file or directory/);
  });

  test('writable host paths are the only way out, and only where listed', async (t) => {
    const { mkdtempSync, chownSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/toolcell-it-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    chownSync(dir, 65534, 65534);
    const profile = profileFrom(
      'writer',
      `description = "x"
command = ["/bin/bash", "-c", "{script}"]
allow_leading_dash = ["script"]
[input]
type = "object"
required = ["script"]
properties.script = { type = "string" }
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
writable = ["${dir}:/work/out"]
tmpfs = ["/work:1M"]
`,
    );
    const r = await sh('echo hello > /work/out/f && cat /work/out/f; ln -s /etc/shadow /work/out/l; cat /work/out/l', profile);
    assert.equal(r.stdout, 'hello\n');
    assert.match(r.stderr, /cat: \/work\/out\/l: No such file or directory/);
    assert.equal(readFileSync(`${dir}/f`, 'utf8'), 'hello\n');
  });
});
