// A private network "lab" for network tests, so they never touch this machine's own routing.
// LAB is the namespace the daemon under test runs in (it plays the host); INET, joined to LAB by a
// veth pair, plays "the internet" with TCP/UDP listeners that log every connection and datagram.
// Everything created carries the prefix `tctest` and close() removes it. Every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, SLOWDOWN } from './daemon.js';
import { livingOfUids, uidOf } from './leftovers.js';

export interface Lab {
  /**
   * Path of the lab namespace (/run/netns/tctest-lab-XXXX): a bind-mounted path, so the daemon can be
   * started in it with `nsenter --net=` and keep a namespace that outlives any one process.
   */
  readonly labNetns: string;
  /** Path of the namespace that plays the internet; deleting it also removes the veth pair. */
  readonly inetNetns: string;
  /** Two IPv4 "internet hosts" (TEST-NET-3, never routed for real), both in INET, so tests can allow one and deny the other. */
  readonly hostA: string;
  readonly hostB: string;
  /** Host A's IPv6 address (documentation prefix), to check that v6 is filtered like v4. */
  readonly hostA6: string;
  /** The cloud metadata address, also an address of INET: a connection that reaches it is logged. */
  readonly metadata: string;
  /** The lab's own address on the link to INET: the "host's own address" a sandbox must not reach. */
  readonly labAddress: string;
  /** TCP ports listening on every INET address (v4 and v6); two, so a policy can allow one port and not the other. */
  readonly tcpPorts: readonly [number, number];
  /** UDP ports answering on every INET address; 53 is there because DNS is the usual UDP exception in a policy. */
  readonly udpPorts: readonly [number, number];
  /**
   * argv prefix that runs a command inside LAB. Plain nsenter rather than `ip netns exec`, which
   * remounts /sys and would give the command a different view of the system than the daemon gets.
   */
  readonly inLab: readonly string[];
  /**
   * What INET actually received so far, one line per TCP connection or UDP datagram, e.g.
   * "tcp 203.0.113.10:8080 from 203.0.113.1" or "udp [2001:db8:1::10]:53 from 2001:db8:1::1".
   * A line is logged before the listener answers, so once a client has its reply the line is here;
   * checking the log, not only the client's view, is what proves a blocked packet never left the lab.
   */
  received(): string[];
  /** Removes both namespaces, kills the listener (by its pid only) and removes temp files. Idempotent. */
  close(): Promise<void>;
}

const PREFIX = 'tctest';
const CMD_TIMEOUT_MS = 10_000 * SLOWDOWN;
const READY_TIMEOUT_MS = 10_000 * SLOWDOWN;

const LAB_V4 = '203.0.113.1';
const HOST_A = '203.0.113.10';
const HOST_B = '203.0.113.20';
const LAB_V6 = '2001:db8:1::1';
const HOST_A6 = '2001:db8:1::10';
const METADATA = '169.254.169.254';
const TCP_PORTS = [8080, 8081] as const;
const UDP_PORTS = [5353, 53] as const;

/**
 * The INET listeners. TCP binds the wildcards (the accepted socket knows its local address); UDP binds
 * one socket per address × port, because a wildcard UDP socket cannot tell which address a datagram
 * was sent to without IP_PKTINFO games. v6 sockets are V6ONLY so the v4 and v6 wildcard binds coexist
 * and v4 clients are never reported as mapped addresses. The log line is written and flushed before
 * the reply. EOF on stdin means the test process died: exit rather than linger in a leaked namespace.
 *
 * argv: log path, tcp ports (comma separated), udp ports, udp addresses.
 */
const LISTENER_SCRIPT = String.raw`
import selectors, socket, sys
log_path, tcp_ports, udp_ports, udp_addrs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
log = open(log_path, 'a', buffering=1)
def fmt(addr):
    return '[' + addr + ']' if ':' in addr else addr
def bound(family, kind, addr, port):
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.setblocking(False)
    return s
sel = selectors.DefaultSelector()
for port in [int(p) for p in tcp_ports.split(',')]:
    for family, addr in ((socket.AF_INET, '0.0.0.0'), (socket.AF_INET6, '::')):
        s = bound(family, socket.SOCK_STREAM, addr, port)
        s.listen(64)
        sel.register(s, selectors.EVENT_READ, 'tcp')
for port in [int(p) for p in udp_ports.split(',')]:
    for addr in udp_addrs.split(','):
        family = socket.AF_INET6 if ':' in addr else socket.AF_INET
        sel.register(bound(family, socket.SOCK_DGRAM, addr, port), selectors.EVENT_READ, 'udp')
sel.register(sys.stdin, selectors.EVENT_READ, 'stdin')
print('ready', flush=True)
while True:
    for key, _ in sel.select():
        if key.data == 'stdin':
            if not sys.stdin.buffer.read1(4096):
                sys.exit(0)
            continue
        s = key.fileobj
        if key.data == 'tcp':
            try:
                conn, peer = s.accept()
            except BlockingIOError:
                continue
            local = conn.getsockname()
            here = fmt(local[0]) + ':' + str(local[1])
            log.write('tcp ' + here + ' from ' + peer[0] + '\n')
            try:
                conn.setblocking(True)
                conn.settimeout(2)
                conn.sendall(('hello ' + here + '/tcp\n').encode())
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()
        else:
            try:
                data, peer = s.recvfrom(65535)
            except BlockingIOError:
                continue
            local = s.getsockname()
            here = fmt(local[0]) + ':' + str(local[1])
            log.write('udp ' + here + ' from ' + peer[0] + '\n')
            try:
                s.sendto(('hello ' + here + '/udp\n').encode(), peer)
            except OSError:
                pass
`;

/** Runs a command to completion (bounded) and throws with its stderr when it fails. */
function run(argv: readonly string[]): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: CMD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Like run() but for cleanup: failures are reported, not thrown, so one failure does not stop the rest. */
function tryRun(argv: readonly string[]): string | undefined {
  try {
    run(argv);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function randomSuffix(): string {
  return randomBytes(3).toString('hex');
}

let skipReason: { value: string | undefined } | undefined;

/**
 * Why lab tests cannot run here, or undefined when they can. Probed once per process with a
 * throw-away namespace (and a veth pair inside it), because a root user can still lack netns
 * support in a container; the answer is cached since `describe(..., { skip })` may ask often.
 */
export function labSkipReason(): string | undefined {
  if (skipReason) return skipReason.value;
  skipReason = { value: probe() };
  return skipReason.value;
}

function probe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  const name = `${PREFIX}-probe-${randomSuffix()}`;
  try {
    run(['ip', 'netns', 'add', name]);
  } catch (e) {
    return `ip netns not usable: ${(e as Error).message}`;
  }
  let step = 'ip netns not usable';
  try {
    const r = randomSuffix();
    run(['ip', '-n', name, 'link', 'add', `tcpa${r}`, 'type', 'veth', 'peer', 'name', `tcpb${r}`]);
    step = 'python3 not usable inside a netns';
    run(['nsenter', `--net=/run/netns/${name}`, 'python3', '-c', 'pass']);
    return undefined;
  } catch (e) {
    return `${step}: ${(e as Error).message}`;
  } finally {
    tryRun(['ip', 'netns', 'del', name]);
  }
}

/** Resolves true once the child has exited, false if it has not within `timeoutMs`. */
function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Waits (bounded) for the listener's "ready" line; rejects with its stderr if it exits or stalls. */
function waitForReady(child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: string) => {
      out += chunk;
      if (out.split('\n').includes('ready')) finish();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`INET listener exited (${code ?? signal}) before it was ready: ${stderr().trim()}`));
    const onError = (e: Error) => finish(new Error(`INET listener did not start: ${e.message}`));
    const timer = setTimeout(
      () => finish(new Error(`INET listener not ready after ${READY_TIMEOUT_MS} ms: ${stderr().trim()}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/**
 * Builds a fresh lab. Interfaces are only ever created inside the lab namespaces (`ip -n`), so the
 * root namespace never holds one, even briefly. On any failure, whatever was built is torn down
 * before the error is rethrown.
 */
export async function createLab(): Promise<Lab> {
  const rand = randomSuffix();
  const labName = `${PREFIX}-lab-${rand}`;
  const inetName = `${PREFIX}-inet-${rand}`;
  const labNetns = `/run/netns/${labName}`;
  const inetNetns = `/run/netns/${inetName}`;
  const labIf = `tcl${rand}`;
  const inetIf = `tci${rand}`;
  const tempDir = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  const logPath = join(tempDir, 'received.log');
  const created: string[] = [];
  let child: ChildProcess | undefined;
  let stderr = '';
  let closed = false;
  let lastReceived: string[] = [];

  const received = (): string[] => {
    if (closed) return lastReceived;
    try {
      lastReceived = readFileSync(logPath, 'utf8').split('\n').filter((l) => l !== '');
    } catch {
      // Nothing logged yet (the listener creates the file when it starts).
    }
    return lastReceived;
  };

  /**
   * Last-resort teardown when the test process exits without close() (process.exit, an uncaught
   * error): synchronous, because nothing asynchronous runs in an 'exit' handler. The namespace
   * names go at once; the kernel frees the namespaces themselves once the killed listener is gone.
   */
  const onProcessExit = (): void => {
    if (closed) return;
    closed = true;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const name of [...created].reverse()) tryRun(['ip', 'netns', 'del', name]);
    rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', onProcessExit);

  const close = async (): Promise<void> => {
    if (closed) return;
    received();
    closed = true;
    process.off('exit', onProcessExit);
    const problems: string[] = [];
    if (child?.pid !== undefined) {
      // Killed before the namespaces go: a process still inside INET would keep it (and the veth) alive.
      child.kill('SIGKILL');
      if (!(await exited(child, 5_000 * SLOWDOWN))) problems.push(`INET listener pid ${child.pid} did not exit`);
    }
    for (const name of [...created].reverse()) {
      const err = tryRun(['ip', 'netns', 'del', name]);
      if (err) problems.push(err);
    }
    rmSync(tempDir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`lab ${rand} teardown: ${problems.join('; ')}`);
  };

  try {
    run(['ip', 'netns', 'add', labName]);
    created.push(labName);
    run(['ip', 'netns', 'add', inetName]);
    created.push(inetName);

    const inLab = ['ip', '-n', labName];
    const inInet = ['ip', '-n', inetName];
    run([...inLab, 'link', 'add', labIf, 'type', 'veth', 'peer', 'name', inetIf, 'netns', inetName]);

    run([...inInet, 'link', 'set', 'lo', 'up']);
    run([...inInet, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo']);
    run([...inInet, 'addr', 'add', `${HOST_A}/24`, 'dev', inetIf]);
    run([...inInet, 'addr', 'add', `${HOST_B}/24`, 'dev', inetIf]);
    // nodad: otherwise the address stays "tentative" for a second or two and bind() fails with EADDRNOTAVAIL.
    run([...inInet, '-6', 'addr', 'add', `${HOST_A6}/64`, 'dev', inetIf, 'nodad']);
    run([...inInet, 'link', 'set', inetIf, 'up']);

    // No reverse-path filter in the lab: a host wall test must see a forged source dropped by
    // toolcell's rules, not by the kernel's rp_filter (which a machine's defaults may switch on).
    for (const key of ['all', 'default']) run(['ip', 'netns', 'exec', labName, 'sysctl', '-q', '-w', `net.ipv4.conf.${key}.rp_filter=0`]);
    run([...inLab, 'link', 'set', 'lo', 'up']);
    run([...inLab, 'addr', 'add', `${LAB_V4}/24`, 'dev', labIf]);
    run([...inLab, '-6', 'addr', 'add', `${LAB_V6}/64`, 'dev', labIf, 'nodad']);
    run([...inLab, 'link', 'set', labIf, 'up']);
    run([...inLab, 'route', 'add', 'default', 'via', HOST_A]);
    run([...inLab, '-6', 'route', 'add', 'default', 'via', HOST_A6]);
    // LAB starts like a workstation that does not forward: a daemon in it switches forwarding on
    // (per namespace) with its guard, as it would on the host.

    child = spawn(
      'nsenter',
      [`--net=${inetNetns}`, 'python3', '-u', '-c', LISTENER_SCRIPT, logPath, TCP_PORTS.join(','), UDP_PORTS.join(','), [HOST_A, HOST_B, HOST_A6].join(',')],
      { stdio: ['pipe', 'pipe', 'pipe'], detached: false },
    );
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      if (stderr.length < 64_000) stderr += c;
    });
    await waitForReady(child, () => stderr);
    // A test that forgets close() must not hang its file's process on these handles: the process
    // then exits normally and onProcessExit tears the lab down.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref();
  } catch (e) {
    try {
      await close();
    } catch (cleanupError) {
      throw new Error(`${(e as Error).message} (and cleanup failed: ${(cleanupError as Error).message})`);
    }
    throw e;
  }

  return {
    labNetns,
    inetNetns,
    hostA: HOST_A,
    hostB: HOST_B,
    hostA6: HOST_A6,
    metadata: METADATA,
    labAddress: LAB_V4,
    tcpPorts: TCP_PORTS,
    udpPorts: UDP_PORTS,
    inLab: ['nsenter', `--net=${labNetns}`],
    received,
    close,
  };
}

/**
 * An address of no network (TEST-NET-1) that openSandboxWall() adds to the sandbox's link last:
 * the tool can bind to it only once its wall is open.
 */
const WALL_OPEN_MARK = '192.0.2.254';

/** Python for the start of a tool's code: waits (20 s at most) until openSandboxWall() has run. */
export const WAIT_FOR_OPEN_WALL_PY = `import socket as _socket, time as _time
for _ in range(400):
    try:
        _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).bind(('${WALL_OPEN_MARK}', 0))
        break
    except OSError:
        _time.sleep(0.05)
else:
    raise SystemExit('the sandbox wall was not opened')
`;

/**
 * Opens a running tool's own firewall from outside, as root, so that a test checks the host's wall
 * by itself: finds the tool (command name `comm`, real uid of `user`; /proc is only read), adds
 * `addresses` to its link, inserts an accept-all rule at the top of its output chain, then adds
 * WALL_OPEN_MARK for WAIT_FOR_OPEN_WALL_PY. Everything it changes is in the sandbox's network
 * namespace, which dies with it.
 */
export async function openSandboxWall(user: string, addresses: readonly string[] = [], comm = 'python3'): Promise<void> {
  const uids = new Set([uidOf(user)]);
  let found: string | undefined;
  await pollUntil(() => (found = livingOfUids(uids).find((p) => p.name === comm)?.pid) !== undefined, READY_TIMEOUT_MS);
  const pid = found;
  if (pid === undefined) throw new Error(`no ${comm} of ${user} started within ${READY_TIMEOUT_MS} ms`);
  const { SANDBOX_TABLE } = await import('../../src/plan/network-plan.js');
  const inSandbox = (...args: string[]) => run(['nsenter', '-t', pid, '-n', ...args]);
  for (const address of addresses) inSandbox('ip', 'addr', 'add', address, 'dev', 'eth0');
  inSandbox('nft', 'insert', 'rule', 'inet', SANDBOX_TABLE, 'output', 'accept');
  inSandbox('ip', 'addr', 'add', `${WALL_OPEN_MARK}/32`, 'dev', 'eth0');
}
