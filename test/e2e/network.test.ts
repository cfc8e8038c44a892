// Network egress through the real path: a daemon started inside a test's own network namespace
// (the "lab", which plays the host), MCP calls over its socket, sandboxes whose packets go to test
// hosts in a further namespace (the "internet"). Each case attempts the connection and asserts the
// exact outcome: the reply, or the errno the tool saw, and what the internet side received.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { closeQuietly, connectClient, makeTempDir, pollUntil, makeToolsDir, removeDir, SLOWDOWN, startDaemon, waitForExit, type Daemon } from '../helpers/daemon.js';
import { createToolUsers, realKernelSkipReason } from '../helpers/fixtures.js';
import { createLab, labSkipReason, openSandboxWall, WAIT_FOR_OPEN_WALL_PY, type Lab } from '../helpers/test-network.js';
import { spawnSync } from 'node:child_process';

const skip = realKernelSkipReason() ?? labSkipReason();

/**
 * The probe: tries each target and prints one line per target, "PROTO HOST:PORT ok REPLY",
 * "... errno N" or "... timeout". A host-side drop shows as a timeout (1.5 s); a sandbox-side
 * refusal as errno 113 (EHOSTUNREACH; 13, EACCES, over IPv6) for a TCP connect and errno 1 (EPERM)
 * for a UDP send, both at once; a missing route (no network at all, or no IPv6) as errno 101 (ENETUNREACH).
 */
const PROBE = `
import json, socket, sys
for proto, host, port in json.loads(sys.argv[1]):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
    s.settimeout(1.5)
    try:
        if proto == 'tcp':
            s.connect((host, port))
            out = 'ok ' + s.recv(200).decode().strip()
        else:
            s.sendto(b'probe', (host, port))
            out = 'ok ' + s.recvfrom(200)[0].decode().strip()
    except socket.timeout:
        out = 'timeout'
    except OSError as e:
        out = 'errno %d' % e.errno
    print(proto, '%s:%d' % (host, port), out, flush=True)
`;

function probeTool(allow: readonly string[], extra = ''): string {
  return [
    'description = "network probe"',
    'command = ["/usr/bin/python3", "-I", "-c", "{code}", "{targets}"]',
    'allow_leading_dash = ["code", "targets"]',
    '[input]',
    'type = "object"',
    'required = ["code", "targets"]',
    'properties.code = { type = "string" }',
    'properties.targets = { type = "string" }',
    '[filesystem]',
    'read_only = ["/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"]',
    'tmpfs = ["/tmp:1M"]',
    '[limits]',
    'timeout = "30s"',
    '[network]',
    `allow = [${allow.map((a) => JSON.stringify(a)).join(', ')}]`,
    extra,
    '',
  ].join('\n');
}

type Target = readonly ['tcp' | 'udp', string, number];

interface Structured {
  readonly stdout: string;
  readonly exitCode: number | null;
  readonly deniedEgress?: readonly { destination: string; protocol: string; port: number | null; packets: number }[];
}

describe('e2e: network egress (daemon in a lab namespace)', { skip, timeout: 300_000 }, () => {
  let lab: Lab;
  let daemon: Daemon;
  let client: Client;
  let tools: string;
  let hostsDir: string;
  let removeUsers: () => Promise<void> = async () => undefined;
  const TOOLS = ['nonet', 'web', 'dns', 'v6', 'walls', 'named', 'nxname', 'wide', 'netlink'];

  /** With `openWall`, the sandbox's own wall is opened from outside first, leaving the host's alone. */
  async function probe(tool: string, targets: readonly Target[], openWall = false): Promise<{ lines: string[]; result: Structured; isError: boolean; text: string }> {
    const call = client.callTool({ name: tool, arguments: { code: openWall ? WAIT_FOR_OPEN_WALL_PY + PROBE : PROBE, targets: JSON.stringify(targets) } });
    if (openWall) await openSandboxWall(`tc-${tool}`);
    const r = (await call) as {
      structuredContent?: Structured;
      isError?: boolean;
      content: { text: string }[];
    };
    const text = r.content.map((c) => c.text).join('');
    assert.ok(r.structuredContent, text);
    return { lines: r.structuredContent.stdout.trim().split('\n'), result: r.structuredContent, isError: r.isError === true, text };
  }

  before(async () => {
    lab = await createLab();
    removeUsers = await createToolUsers(TOOLS);
    tools = makeToolsDir(
      {
        'nonet.toml': probeTool([]),
        'web.toml': probeTool([`${lab.hostA}:8080`]),
        'dns.toml': probeTool([`${lab.hostA}:53/udp`]),
        'v6.toml': probeTool([`[${lab.hostA6}]:8080`, `${lab.hostA}:8080`]),
        // Allowed on the sandbox's side but never by the host's wall: the lab's own address; and
        // what neither side lets through whatever a profile says: the metadata address, other sandboxes.
        'walls.toml': probeTool([`${lab.labAddress}:8080`, `${lab.metadata}:8080`, '10.213.0.0/16:9000']),
        'named.toml': probeTool(['inet-a.test:8080']),
        'nxname.toml': probeTool(['nx.invalid:8080']),
        'wide.toml': probeTool(['0.0.0.0/0:9000'], 'allow_any = true'),
        // Netlink sockets let through by seccomp: what still stops nft is the missing capability.
        'netlink.toml': probeTool([`${lab.hostA}:8080`], '[seccomp]\nallow = ["@socket-families"]'),
      },
      false,
    );
    // The daemon resolves names through its own /etc/hosts: give it one of its own, in a mount
    // namespace of its own, so the machine's file is untouched.
    hostsDir = makeTempDir('tc-hosts-');
    const hosts = join(hostsDir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost\n${lab.hostA} inet-a.test\n`);
    // No name server in the lab: a name not in that file is refused at once (127.0.0.1:53 is closed).
    const resolv = join(hostsDir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    daemon = await startDaemon({
      tools,
      wrap: [...lab.inLab, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"', hosts, resolv],
    });
    client = (await connectClient(daemon.socket)).client;
  });

  after(async () => {
    await closeQuietly(client);
    await daemon?.stop();
    await lab?.close();
    await removeUsers();
    removeDir(tools);
    removeDir(hostsDir);
  });

  test('a tool without an allowlist has only lo and reaches nothing', async () => {
    const { lines } = await probe('nonet', [['tcp', lab.hostA, 8080], ['udp', lab.hostA, 53], ['tcp', lab.hostA6, 8080], ['tcp', lab.labAddress, 8080]]);
    assert.deepEqual(lines, [`tcp ${lab.hostA}:8080 errno 101`, `udp ${lab.hostA}:53 errno 101`, `tcp ${lab.hostA6}:8080 errno 101`, `tcp ${lab.labAddress}:8080 errno 101`]);
    const r = await client.callTool({ name: 'nonet', arguments: { code: 'print(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))', targets: '[]' } });
    assert.equal((r.structuredContent as Structured).stdout, "['lo']\n");
  });

  test('the allowed host:port answers; another port, another host, UDP and DNS are refused and counted', async () => {
    const before = lab.received().length;
    const { lines, result } = await probe('web', [
      ['tcp', lab.hostA, 8080],
      ['tcp', lab.hostA, 8081],
      ['tcp', lab.hostB, 8080],
      ['udp', lab.hostA, 8080],
      ['udp', lab.hostA, 53],
    ]);
    assert.deepEqual(lines, [
      `tcp ${lab.hostA}:8080 ok hello ${lab.hostA}:8080/tcp`,
      `tcp ${lab.hostA}:8081 errno 113`,
      `tcp ${lab.hostB}:8080 errno 113`,
      `udp ${lab.hostA}:8080 errno 1`,
      `udp ${lab.hostA}:53 errno 1`,
    ]);
    // The lab did not forward: the daemon switched forwarding on, behind its guard.
    assert.match(daemon.stdout, /switched IPv4 forwarding on for sandbox networks/);
    // Only the allowed connection left the lab, masqueraded behind the lab's address.
    assert.deepEqual(lab.received().slice(before), [`tcp ${lab.hostA}:8080 from ${lab.labAddress}`]);
    assert.deepEqual(
      [...(result.deniedEgress ?? assert.fail(daemon.stdout))].sort((a, b) => `${a.destination}${a.port}${a.protocol}`.localeCompare(`${b.destination}${b.port}${b.protocol}`)),
      [
        { destination: lab.hostA, protocol: 'udp', port: 53, packets: 1 },
        { destination: lab.hostA, protocol: 'udp', port: 8080, packets: 1 },
        { destination: lab.hostA, protocol: 'tcp', port: 8081, packets: 1 },
        { destination: lab.hostB, protocol: 'tcp', port: 8080, packets: 1 },
      ],
    );
  });

  test('UDP (DNS) only where the allowlist names it', async () => {
    const { lines } = await probe('dns', [['udp', lab.hostA, 53], ['tcp', lab.hostA, 53], ['udp', lab.hostA, 5353]]);
    assert.deepEqual(lines, [`udp ${lab.hostA}:53 ok hello ${lab.hostA}:53/udp`, `tcp ${lab.hostA}:53 errno 113`, `udp ${lab.hostA}:5353 errno 1`]);
  });

  test('IPv6 only when allowed: the v6 entry answers, other v6 ports do not', async () => {
    const { lines } = await probe('v6', [['tcp', lab.hostA6, 8080], ['tcp', lab.hostA6, 8081], ['tcp', lab.hostA, 8080]]);
    assert.deepEqual(lines, [`tcp ${lab.hostA6}:8080 ok hello [${lab.hostA6}]:8080/tcp`, `tcp ${lab.hostA6}:8081 errno 13`, `tcp ${lab.hostA}:8080 ok hello ${lab.hostA}:8080/tcp`]);
    const web = await probe('web', [['tcp', lab.hostA6, 8080]]);
    assert.deepEqual(web.lines, [`tcp ${lab.hostA6}:8080 errno 101`]);
  });

  test("the host's own address stays closed even when allowlisted; link-local and the pool never open", async () => {
    // A listener on the lab's own address: were the host's wall missing, the probe would reach it.
    const listener = spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), 'python3', '-c', 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); print("bound")'], { encoding: 'utf8' });
    assert.equal(listener.stdout, 'bound\n', listener.stderr);
    const { lines } = await probe('walls', [['tcp', lab.labAddress, 8080], ['tcp', lab.metadata, 8080], ['tcp', '10.213.0.1', 9000]]);
    assert.deepEqual(lines, [`tcp ${lab.labAddress}:8080 timeout`, `tcp ${lab.metadata}:8080 errno 113`, 'tcp 10.213.0.1:9000 errno 113']);
  });

  test("with the sandbox's own wall opened from outside, the host's wall alone refuses what the allowlist does not name, and the metadata address", async () => {
    // The tests above are decided by the sandbox's own table; the host's must hold by itself.
    const before = lab.received().length;
    const web = await probe('web', [['tcp', lab.hostA, 8080], ['tcp', lab.hostA, 8081], ['tcp', lab.hostB, 8080], ['udp', lab.hostA, 53]], true);
    assert.deepEqual(web.lines, [`tcp ${lab.hostA}:8080 ok hello ${lab.hostA}:8080/tcp`, `tcp ${lab.hostA}:8081 timeout`, `tcp ${lab.hostB}:8080 timeout`, `udp ${lab.hostA}:53 timeout`]);
    const walls = await probe('walls', [['tcp', lab.metadata, 8080], ['tcp', lab.labAddress, 8080]], true);
    assert.deepEqual(walls.lines, [`tcp ${lab.metadata}:8080 timeout`, `tcp ${lab.labAddress}:8080 timeout`]);
    assert.deepEqual(lab.received().slice(before), [`tcp ${lab.hostA}:8080 from ${lab.labAddress}`]);
  });

  test('a second sandbox running at the same time is not reachable, even with allow_any', async () => {
    const listening = client.callTool({
      name: 'web',
      arguments: { code: 'import socket, time\ns = socket.socket(); s.bind(("0.0.0.0", 9000)); s.listen(); s.settimeout(4)\ntry:\n    s.accept(); print("accepted")\nexcept socket.timeout:\n    print("nobody came")', targets: '[]' },
    });
    await new Promise((r) => setTimeout(r, 1000));
    // The pool's first slots: whichever the listener got, every one of them is refused.
    const targets: Target[] = [2, 6, 10, 14].map((n) => ['tcp', `10.213.0.${n}`, 9000]);
    const { lines } = await probe('wide', targets);
    assert.deepEqual(lines, targets.map(([p, h, port]) => `${p} ${h}:${port} errno 113`));
    assert.equal(((await listening).structuredContent as Structured).stdout, 'nobody came\n');
  });

  test('host names are resolved by the daemon and pinned in /etc/hosts; a name that does not resolve fails the call first', async () => {
    const { lines } = await probe('named', [['tcp', 'inet-a.test', 8080], ['tcp', lab.hostB, 8080]]);
    assert.deepEqual(lines, [`tcp inet-a.test:8080 ok hello ${lab.hostA}:8080/tcp`, `tcp ${lab.hostB}:8080 errno 113`]);
    const hosts = await client.callTool({ name: 'named', arguments: { code: 'print(open("/etc/hosts").read(), end="")', targets: '[]' } });
    assert.equal((hosts.structuredContent as Structured).stdout, `127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\ttoolcell\n${lab.hostA}\tinet-a.test\n`);
    const nx = (await client.callTool({ name: 'nxname', arguments: { code: 'print("ran")', targets: '[]' } })) as { isError?: boolean; content: { text: string }[] };
    assert.equal(nx.isError, true);
    assert.match(nx.content[0]!.text, /^toolcell: the sandbox could not be run: network\.allow: host nx\.invalid did not resolve \((ENOTFOUND|EAI_AGAIN)\); the tool was not started$/);
  });

  test('the rules cannot be listed or changed from inside: no netlink socket, and without seccomp no capability', async () => {
    const nft = { code: 'import subprocess\nfor a in (["list", "ruleset"], ["flush", "ruleset"]):\n    p = subprocess.run(["/usr/sbin/nft", *a], capture_output=True, text=True)\n    print(p.returncode, p.stderr.strip().splitlines()[0])', targets: '[]' };
    const web = await client.callTool({ name: 'web', arguments: nft });
    assert.equal((web.structuredContent as Structured).stdout, '3 mnl.c:60: Unable to initialize Netlink socket: Operation not permitted\n'.repeat(2));
    const netlink = await client.callTool({ name: 'netlink', arguments: nft });
    assert.equal((netlink.structuredContent as Structured).stdout, '1 Operation not permitted (you must be root)\n1 Error: Could not process rule: Operation not permitted\n');
    const still = await probe('netlink', [['tcp', lab.hostA, 8080], ['tcp', lab.hostA, 8081]]);
    assert.deepEqual(still.lines, [`tcp ${lab.hostA}:8080 ok hello ${lab.hostA}:8080/tcp`, `tcp ${lab.hostA}:8081 errno 113`]);
  });

  test('teardown leaves no veth and no host table; a kill -9 of the daemon leaves only what the next start sweeps', async () => {
    const inLab = (args: string[]) => spawnSync(lab.inLab[0]!, [...lab.inLab.slice(1), ...args], { encoding: 'utf8' }).stdout;
    // Ready sandboxes (built ahead of demand, with their veths and tables) live while the daemon
    // runs; one that stops leaves nothing. The veth pairs go with their namespaces, which the
    // kernel frees in the background: bounded wait.
    const vethCount = () => inLab(['ip', '-o', 'link', 'show', 'type', 'veth']).split('\n').filter((l) => /: tcv\d+@/.test(l)).length;
    await closeQuietly(client);
    assert.equal((await daemon.stop()).code, 0);
    assert.equal(await pollUntil(() => vethCount() === 0, 5000 * SLOWDOWN), true, `veths left: ${vethCount()}`);
    assert.doesNotMatch(inLab(['nft', 'list', 'tables']), /toolcell_\d/);
    daemon = await startDaemon({ tools, wrap: [...lab.inLab, '--'] });
    client = (await connectClient(daemon.socket)).client;

    const pending = client.callTool({ name: 'web', arguments: { code: 'import time; time.sleep(30)', targets: '[]' } }).catch((e: Error) => e);
    let tables = '';
    for (let i = 0; i < 100 && !/toolcell_\d/.test(tables); i++) {
      await new Promise((r) => setTimeout(r, 50));
      tables = inLab(['nft', 'list', 'tables']);
    }
    assert.match(tables, new RegExp(`table inet toolcell_${daemon.pid}_\\d+_\\d+`));
    daemon.child.kill('SIGKILL');
    await waitForExit(daemon.child, 5000);
    await pending;
    await closeQuietly(client);
    // The sandbox died with the daemon and its namespace with it: the veth pair is gone by itself;
    // the host table stays until the next start.
    let links = 'tcv';
    for (let i = 0; i < 100 && /tcv\d+/.test(links); i++) {
      await new Promise((r) => setTimeout(r, 50));
      links = inLab(['ip', '-o', 'link', 'show', 'type', 'veth']);
    }
    assert.doesNotMatch(links, /tcv\d+/);
    assert.match(inLab(['nft', 'list', 'tables']), /toolcell_\d/);
    await daemon.stop();
    daemon = await startDaemon({ tools, wrap: [...lab.inLab, '--'] });
    client = (await connectClient(daemon.socket)).client;
    assert.doesNotMatch(inLab(['nft', 'list', 'tables']), /toolcell_\d/);
    assert.match(daemon.stdout, /removed the host firewall tables of sandboxes whose daemon is gone/);
  });
});
