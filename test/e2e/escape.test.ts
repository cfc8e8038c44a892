// The escape battery (first part): through the real MCP path, the bundled shell and python tools
// try what a prompt-injected model would, and each attempt meets its exact denial.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { callStructured, closeQuietly, connectClient, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';

const skip = realKernelSkipReason();
const MARKER = `TCTEST_DAEMON_SECRET_${randomBytes(4).toString('hex')}`;

interface Out {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
}

/** Python that reports each escape attempt as "NAME ok" or "NAME errno N". */
const PY_ATTEMPTS = (daemonPid: number, abstract: string) => `
import ctypes, fcntl, os, signal, socket, termios
libc = ctypes.CDLL(None, use_errno=True)
def sc(name, nr, *args):
    r = libc.syscall(nr, *args)
    print(name, "ok" if r >= 0 else "errno %d" % ctypes.get_errno())
def attempt(name, fn):
    try:
        fn(); print(name, "ok")
    except OSError as e:
        print(name, "errno", e.errno)
# The tool's own child: the tool is pid 1, and attaching to itself is refused whatever the filter.
child = os.fork()
if child == 0:
    signal.pause(); os._exit(0)
sc("ptrace(ATTACH, child)", 101, 16, child, 0, 0)
os.kill(child, 9); os.waitpid(child, 0)
sc("keyctl", 250, 0, -3, 0)
sc("bpf", 321, 5, 0, 0)
sc("perf_event_open", 298, 0, 0, -1, -1, 0)
sc("userfaultfd", 323, 0)
sc("io_uring_setup", 425, 1, 0)
sc("setns", 308, 0, 0)
sc("pivot_root", 155, 0, 0)
attempt("TIOCSTI", lambda: fcntl.ioctl(1, termios.TIOCSTI, b"x"))
attempt("write /proc/self/exe", lambda: open("/proc/self/exe", "wb"))
attempt("abstract socket of the host", lambda: socket.socket(socket.AF_UNIX).connect("\\0${abstract}"))
attempt("AF_PACKET", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
attempt("raw ICMP", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("TCP to 127.0.0.1:22", lambda: socket.create_connection(("127.0.0.1", 22), 1))
attempt("kill the daemon", lambda: os.kill(${daemonPid}, 9))
print("fds", sorted(os.listdir("/proc/self/fd")))
`;

describe('e2e: escape battery through MCP (shell, python)', { skip }, () => {
  let daemon: Daemon;
  let conn: DirectClient;
  let abstract: Server;
  const abstractName = `tctest-abstract-${randomBytes(4).toString('hex')}`;
  before(async () => {
    abstract = createServer().listen(`\0${abstractName}`);
    daemon = await startDaemon({ tools: PROFILES, env: { [MARKER]: 'leaked' } });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    abstract?.close();
  });

  const call = (name: string, args: Record<string, string>) => callStructured<Out>(conn.client, name, args);
  const shell = (script: string) => call('shell', { script });

  test('host secrets are not there: /etc/shadow, /root, other homes, /sys', async () => {
    const r = await shell('cat /etc/shadow; ls /root; ls /home; ls /sys; echo end');
    assert.equal(r.stdout, 'end\n');
    assert.equal(
      r.stderr,
      [
        'cat: /etc/shadow: No such file or directory',
        "ls: cannot access '/root': No such file or directory",
        "ls: cannot access '/home': No such file or directory",
        "ls: cannot access '/sys': No such file or directory",
        '',
      ].join('\n'),
    );
  });

  test("the daemon's environment reaches no sandbox; the tool's is exactly the profile's", async () => {
    const r = await shell(`grep -rl ${MARKER} /proc/*/environ 2>/dev/null; env | cut -d= -f1 | sort | tr '\\n' ' '`);
    assert.equal(r.stdout, 'HOME LANG PATH PWD SHLVL _ ');
  });

  test('no writes outside the tmpfs: /usr and / are read-only, /proc/sys is not there', async () => {
    const r = await shell('touch /usr/x; touch /x; echo 1 > /proc/sys/kernel/sysrq');
    assert.equal(
      r.stderr,
      ["touch: cannot touch '/usr/x': Read-only file system", "touch: cannot touch '/x': Read-only file system", 'toolcell-shell: line 1: /proc/sys/kernel/sysrq: No such file or directory', ''].join('\n'),
    );
  });

  test('nothing persists into the next call; a full tmpfs says so', async () => {
    const first = await shell('echo kept > /work/f; echo kept > /tmp/f; dd if=/dev/zero of=/work/big bs=1M count=100 2>&1 | grep -o "No space left on device"');
    assert.equal(first.stdout, 'No space left on device\n');
    const second = await shell('ls -A /work /tmp');
    assert.equal(second.stdout, '/tmp:\n\n/work:\n');
  });

  test('host processes are invisible; nested namespaces and setuid binaries get nothing', async () => {
    // The glob is bash's own (no child that may or may not exist yet): bash alone, as pid 1 (bwrap
    // runs the program as the sandbox's pid 1, with no init of its own).
    const r = await shell('cd /proc && echo [0-9]*; unshare -r true; /usr/bin/su root -c id </dev/null; echo su=$?');
    assert.equal(r.stdout, '1\nsu=1\n');
    assert.equal(r.stderr, 'unshare: unshare failed: Operation not permitted\nsu: user root does not exist or the user entry does not contain all the required fields\n');
  });

  test('escape system calls, terminal injection, sockets and signals meet EPERM, EROFS, ECONNREFUSED, ENETUNREACH or ESRCH', async () => {
    const r = await call('python', { code: PY_ATTEMPTS(daemon.pid, abstractName) });
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      [
        'ptrace(ATTACH, child) errno 1',
        'keyctl errno 1',
        'bpf errno 1',
        'perf_event_open errno 1',
        'userfaultfd errno 1',
        'io_uring_setup errno 1',
        'setns errno 1',
        'pivot_root errno 1',
        'TIOCSTI errno 1',
        'write /proc/self/exe errno 30',
        'abstract socket of the host errno 111',
        'AF_PACKET errno 1',
        'raw ICMP errno 1',
        'TCP to 127.0.0.1:22 errno 111',
        'kill the daemon errno 3',
        "fds ['0', '1', '2', '3']",
        '',
      ].join('\n'),
    );
  });
});
