// The escape battery, network part: the bundled python and shell tools (no [network] allow) try
// TCP and UDP over IPv4 and IPv6, DNS, and the loopback of the machine they run on. The daemon runs
// in a lab namespace (test/helpers/test-network.ts) that plays the host, with test hosts behind it
// that log every packet they get, so "nothing left" is checked on the receiving side too. The
// lab's loopback has listeners of its own: the sandbox's lo must not be the host's. Then a tool
// that does have an allowlist tries to send to its allowed host under a source of its choosing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectClient, makeToolsDir, pollUntil, READY_TIMEOUT_MS, removeDir, startDaemon, waitForExit, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { createToolUsers, realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { createLab, labSkipReason, openSandboxWall, WAIT_FOR_OPEN_WALL_PY, type Lab } from '../helpers/test-network.js';

const skip = realKernelSkipReason() ?? labSkipReason();
const LOOPBACK_PORT = 7907;

/** Listens on the lab's 127.0.0.1 and ::1 and prints one line per accepted connection. */
const LOOPBACK_LISTENER = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for fam, addr in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, ${LOOPBACK_PORT})); s.listen(); sel.register(s, selectors.EVENT_READ)
print('ready', flush=True)
while True:
    for key, _ in sel.select(timeout=60):
        c, peer = key.fileobj.accept(); print('accepted', peer[0], flush=True); c.close()
`;

/** Each attempt prints "NAME ok ...", "NAME errno N", "NAME gaierror N" or "NAME timeout". */
const ATTEMPTS = (lab: Lab) => `
import socket
def attempt(name, fn):
    try:
        print(name, 'ok', fn())
    except socket.gaierror as e:
        print(name, 'gaierror', e.errno)
    except socket.timeout:
        print(name, 'timeout')
    except OSError as e:
        print(name, 'errno', e.errno)
def tcp(fam, host, port):
    s = socket.socket(fam); s.settimeout(2); s.connect((host, port)); return s.recv(100)
def udp(fam, host, port):
    # Connected, so an ICMP "port unreachable" comes back as ECONNREFUSED rather than silence.
    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2); s.connect((host, port)); s.send(b'probe'); return s.recv(100)
A, A6 = '${lab.hostA}', '${lab.hostA6}'
attempt('tcp4 internet', lambda: tcp(socket.AF_INET, A, 8080))
attempt('tcp6 internet', lambda: tcp(socket.AF_INET6, A6, 8080))
attempt('udp4 internet', lambda: udp(socket.AF_INET, A, 53))
attempt('udp6 internet', lambda: udp(socket.AF_INET6, A6, 53))
attempt('tcp4 host address', lambda: tcp(socket.AF_INET, '${lab.labAddress}', 8080))
attempt('tcp4 loopback', lambda: tcp(socket.AF_INET, '127.0.0.1', ${LOOPBACK_PORT}))
attempt('tcp6 loopback', lambda: tcp(socket.AF_INET6, '::1', ${LOOPBACK_PORT}))
attempt('dns query to 127.0.0.1:53', lambda: udp(socket.AF_INET, '127.0.0.1', 53))
attempt('getaddrinfo', lambda: socket.getaddrinfo('inet-a.test', 8080))
attempt('getaddrinfo v6', lambda: socket.getaddrinfo('inet-a.test', 8080, socket.AF_INET6))
attempt('raw icmpv6 socket', lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
attempt('ping socket', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
attempt('ping6 socket', lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6))
print('interfaces', sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))
print('routes4', len(open('/proc/net/route').readlines()) - 1)
`;

describe('e2e: escape battery, network (python and shell without an allowlist, daemon in a lab)', { skip, timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  let conn: DirectClient;
  let listener: ChildProcess | undefined;
  let accepted = '';

  before(async () => {
    lab = await createLab();
    listener = spawn('nsenter', [`--net=${lab.labNetns}`, 'python3', '-u', '-c', LOOPBACK_LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener.stdout!.setEncoding('utf8').on('data', (c: string) => (accepted += c));
    await pollUntil(() => accepted.includes('ready\n') || listener?.exitCode !== null, READY_TIMEOUT_MS);
    assert.match(accepted, /ready/, 'the lab loopback listener runs');
    daemon = await startDaemon({ tools: PROFILES, wrap: [...lab.inLab, '--'] });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    if (listener) {
      listener.kill('SIGKILL');
      await waitForExit(listener, 5000);
    }
    await lab?.close();
  });

  test('TCP, UDP and DNS over IPv4 and IPv6 meet ENETUNREACH or the sandbox\'s own closed loopback; nothing arrives anywhere', async () => {
    const before = lab.received().length;
    const r = (await conn.client.callTool({ name: 'python', arguments: { code: ATTEMPTS(lab) } })) as CallToolResult;
    const s = r.structuredContent as { stdout: string; stderr: string };
    assert.equal(s.stderr, '');
    assert.equal(
      s.stdout,
      [
        'tcp4 internet errno 101', // ENETUNREACH: no route at all
        'tcp6 internet errno 101',
        'udp4 internet errno 101',
        'udp6 internet errno 101',
        'tcp4 host address errno 101',
        'tcp4 loopback errno 111', // ECONNREFUSED: the sandbox's own lo, not the host's
        'tcp6 loopback errno 111',
        'dns query to 127.0.0.1:53 errno 111',
        // No /etc/resolv.conf, no /etc/hosts: glibc asks 127.0.0.1:53, which refuses (EAI_AGAIN).
        'getaddrinfo gaierror -3',
        'getaddrinfo v6 gaierror -3',
        'raw icmpv6 socket errno 1', // EPERM: no CAP_NET_RAW
        'ping socket errno 13', // EACCES: ping_group_range of a fresh namespace admits no group
        'ping6 socket errno 13',
        "interfaces ['lo']",
        'routes4 0',
        '',
      ].join('\n'),
    );
    assert.deepEqual(lab.received().slice(before), [], 'the test hosts received nothing');
    assert.equal(accepted, 'ready\n', "the host's loopback listeners accepted nothing");
  });

  test("the shell's /dev/tcp and /dev/udp go nowhere either", async () => {
    const before = lab.received().length;
    const r = (await conn.client.callTool({
      name: 'shell',
      arguments: { script: `echo x > /dev/tcp/${lab.hostA}/8080; echo x > /dev/udp/${lab.hostA}/53; echo x > /dev/tcp/127.0.0.1/${LOOPBACK_PORT}` },
    })) as CallToolResult;
    const s = r.structuredContent as { stderr: string; exitCode: number };
    assert.equal(
      s.stderr,
      [
        `toolcell-shell: connect: Network is unreachable`,
        `toolcell-shell: line 1: /dev/tcp/${lab.hostA}/8080: Network is unreachable`,
        `toolcell-shell: connect: Network is unreachable`,
        `toolcell-shell: line 1: /dev/udp/${lab.hostA}/53: Network is unreachable`,
        'toolcell-shell: connect: Connection refused',
        `toolcell-shell: line 1: /dev/tcp/127.0.0.1/${LOOPBACK_PORT}: Connection refused`,
        '',
      ].join('\n'),
    );
    assert.equal(s.exitCode, 1);
    assert.deepEqual(lab.received().slice(before), []);
    assert.equal(accepted, 'ready\n');
  });

  test('the checks mean something: from the lab (the host) itself, its loopback listeners answer', async () => {
    const connect = (host: string) =>
      spawnSync('nsenter', [`--net=${lab.labNetns}`, 'python3', '-c', `import socket; socket.create_connection(('${host}', ${LOOPBACK_PORT}), 2).close()`], { timeout: 10_000 }).status;
    assert.deepEqual([connect('127.0.0.1'), connect('::1')], [0, 0]);
    // The listener's lines arrive once the event loop runs again (spawnSync blocked it).
    await pollUntil(() => accepted.split('\n').length >= 4, 5000);
    assert.match(accepted, /^ready\naccepted 127\.0\.0\.1\naccepted ::1\n$/);
  });
});

/**
 * Sends one datagram to the allowed [A6]:53 three ways and prints "HOW ok REPLY", "HOW errno N" or
 * "HOW timeout": from a forged source bound with IPV6_FREEBIND (no capability needed), from a
 * forged source given per packet in IPV6_PKTINFO, and from the sandbox's own address.
 */
const FORGE = (a6: string, forged: string) => `
import socket, struct
def send(how):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    try:
        if how != 'own':
            s.setsockopt(socket.IPPROTO_IPV6, 78, 1)  # IPV6_FREEBIND
        if how == 'bind':
            s.bind(('${forged}', 0))
        if how == 'pktinfo':
            info = socket.inet_pton(socket.AF_INET6, '${forged}') + struct.pack('@I', 0)
            s.sendmsg([b'probe'], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)], 0, ('${a6}', 53))
        else:
            s.sendto(b'probe', ('${a6}', 53))
        return 'ok ' + s.recvfrom(200)[0].decode().strip()
    except socket.timeout:
        return 'timeout'
    except OSError as e:
        return 'errno %d' % e.errno
for how in ('bind', 'pktinfo', 'own'):
    print(how, send(how), flush=True)
`;

/**
 * Once the test has opened the sandbox's own wall, sends from forged sources (IPv6 bound and per
 * packet, IPv4 bound to an address the test added to the sandbox's link), then from its own
 * address over both families, printing "own REPLY" for each.
 */
const FORGE_PAST_INNER_WALL = (a6: string, a4: string, forged6: string, forged4: string) => `${WAIT_FOR_OPEN_WALL_PY}
import socket, struct
def sock(fam, freebind):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    if freebind and fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, 78, 1)  # IPV6_FREEBIND
    elif freebind:
        s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
    return s
for fam, src, dst in ((socket.AF_INET6, '${forged6}', '${a6}'), (socket.AF_INET, '${forged4}', '${a4}')):
    s = sock(fam, True)
    s.bind((src, 0))
    s.sendto(b'forged', (dst, 53))
s = sock(socket.AF_INET6, True)
s.sendmsg([b'forged'], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, socket.inet_pton(socket.AF_INET6, '${forged6}') + struct.pack('@I', 0))], 0, ('${a6}', 53))
for fam, dst in ((socket.AF_INET6, '${a6}'), (socket.AF_INET, '${a4}')):
    s = sock(fam, False)
    s.sendto(b'own', (dst, 53))
    print('own', s.recvfrom(200)[0].decode().strip(), flush=True)
`;

describe('e2e: escape battery, network (a tool with an IPv6 allowlist forges its source)', { skip, timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  let conn: DirectClient;
  let tools: string;
  let removeUsers: () => Promise<void> = async () => undefined;

  before(async () => {
    lab = await createLab();
    removeUsers = await createToolUsers(['forger']);
    tools = makeToolsDir(
      {
        'forger.toml': [
          'description = "sends from a source of its choosing"',
          'command = ["/usr/bin/python3", "-I", "-c", "{code}"]',
          'allow_leading_dash = ["code"]',
          '[input]',
          'type = "object"',
          'required = ["code"]',
          'properties.code = { type = "string" }',
          '[filesystem]',
          'read_only = ["/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"]',
          'tmpfs = ["/tmp:1M"]',
          '[limits]',
          'timeout = "30s"',
          '[network]',
          `allow = ["[${lab.hostA6}]:53/udp", "${lab.hostA}:53/udp"]`,
          '',
        ].join('\n'),
      },
      false,
    );
    daemon = await startDaemon({ tools, wrap: [...lab.inLab, '--'] });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    await lab?.close();
    await removeUsers();
    removeDir(tools);
  });

  test('a datagram from a forged IPv6 source never leaves the lab; the same tool\'s own datagram does, masqueraded', async () => {
    // Another host of the lab's own link: a reply to it, or a reflection, would land on the LAN.
    const forged = lab.hostA6.replace(/::[0-9a-f]+$/, '::99');
    const route = spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), 'ip', '-6', 'route', 'get', lab.hostA6], { encoding: 'utf8' }).stdout;
    const masqueraded = /\bsrc (\S+)/.exec(route)?.[1] ?? assert.fail(`no source in ${route}`);
    assert.notEqual(forged, masqueraded);
    const before = lab.received().length;
    const r = (await conn.client.callTool({ name: 'forger', arguments: { code: FORGE(lab.hostA6, forged) } })) as CallToolResult;
    const s = r.structuredContent as { stdout: string; stderr: string };
    assert.equal(s.stderr, '');
    // The own datagram was answered after the forged ones were sent: had they left, they are logged.
    assert.deepEqual(lab.received().slice(before), [`udp [${lab.hostA6}]:53 from ${masqueraded}`]);
    assert.equal(s.stdout, ['bind errno 1', 'pktinfo errno 1', `own ok hello [${lab.hostA6}]:53/udp`, ''].join('\n'));
  });

  test('with the sandbox\'s own wall opened from outside, the host wall alone keeps forged sources in, over IPv4 and IPv6', async () => {
    // The previous test shows the sandbox's own table stops a forgery first; this one checks the
    // second wall by itself: root inserts an accept-all rule at the top of the sandbox's output chain.
    const forged6 = lab.hostA6.replace(/::[0-9a-f]+$/, '::99');
    const forged4 = lab.hostA.replace(/\.\d+$/, '.99');
    const route = (v: '-4' | '-6', to: string) => spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), 'ip', v, 'route', 'get', to], { encoding: 'utf8' }).stdout;
    const source = (text: string) => /\bsrc (\S+)/.exec(text)?.[1] ?? assert.fail(`no source in ${text}`);
    const [masq6, masq4] = [source(route('-6', lab.hostA6)), source(route('-4', lab.hostA))];
    const before = lab.received().length;
    const call = conn.client.callTool({ name: 'forger', arguments: { code: FORGE_PAST_INNER_WALL(lab.hostA6, lab.hostA, forged6, forged4) } });
    // The kernel itself refuses an IPv4 source that is not local (IP_FREEBIND does not lift that,
    // only IP_TRANSPARENT, which takes a capability), so the forged IPv4 source is made local.
    await openSandboxWall('tc-forger', [`${forged4}/32`]);
    const r = (await call) as CallToolResult;
    const s = r.structuredContent as { stdout: string; stderr: string };
    assert.equal(s.stderr, '');
    assert.equal(s.stdout, [`own hello [${lab.hostA6}]:53/udp`, `own hello ${lab.hostA}:53/udp`, ''].join('\n'));
    // The own datagrams were answered after the forged ones were sent: had those left, they are logged.
    assert.deepEqual(lab.received().slice(before), [`udp [${lab.hostA6}]:53 from ${masq6}`, `udp ${lab.hostA}:53 from ${masq4}`]);
  });
});
