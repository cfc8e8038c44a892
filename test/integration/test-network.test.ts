// Self-test of the network lab helper: traffic from LAB reaches INET's listeners over v4 and v6,
// TCP and UDP, INET logs what it received, and the machine's own namespace is never touched.
import { spawnSync } from 'node:child_process';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, labSkipReason, type Lab } from '../helpers/test-network.js';
import { SLOWDOWN } from '../helpers/daemon.js';

/** Interface names in the namespace this test runs in (the machine's own, for a root test run). */
function rootLinks(): string[] {
  const r = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!)
    .sort();
}

function netnsNames(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ')[0]!);
}

/** A client run inside LAB: one exchange, its reply (or "error: ...") on stdout. */
const CLIENT = String.raw`
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
try:
    if proto == 'tcp':
        s = socket.create_connection((host, port), timeout=5)
        data = b''
        for _ in range(100):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(b'ping', (host, port))
        data, _ = s.recvfrom(4096)
    sys.stdout.write(data.decode())
except OSError as e:
    sys.stdout.write('error: ' + repr(e) + '\n')
`;

function exchange(lab: Lab, proto: 'tcp' | 'udp', host: string, port: number): string {
  const [cmd, ...prefix] = lab.inLab;
  const r = spawnSync(cmd!, [...prefix, 'python3', '-c', CLIENT, proto, host, String(port)], {
    encoding: 'utf8',
    timeout: 15_000 * SLOWDOWN,
  });
  assert.equal(r.status, 0, `client exited ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

describe('test network lab', { skip: labSkipReason() }, () => {
  let lab: Lab | undefined;
  after(async () => {
    await lab?.close();
  });

  test('LAB reaches INET over TCP and UDP, v4 and v6; INET logs it; the root namespace is untouched', async () => {
    const linksBefore = rootLinks();
    lab = await createLab();
    const { hostA, hostB, hostA6, labAddress } = lab;
    const [tcp1, tcp2] = lab.tcpPorts;
    const [, dns] = lab.udpPorts;
    assert.ok(netnsNames().includes(lab.labNetns.split('/').pop()!));
    assert.ok(netnsNames().includes(lab.inetNetns.split('/').pop()!));

    assert.equal(exchange(lab, 'tcp', hostA, tcp1), `hello ${hostA}:${tcp1}/tcp\n`);
    assert.equal(exchange(lab, 'udp', hostB, dns), `hello ${hostB}:${dns}/udp\n`);
    assert.equal(exchange(lab, 'tcp', hostA6, tcp2), `hello [${hostA6}]:${tcp2}/tcp\n`);

    assert.deepEqual(lab.received(), [
      `tcp ${hostA}:${tcp1} from ${labAddress}`,
      `udp ${hostB}:${dns} from ${labAddress}`,
      `tcp [${hostA6}]:${tcp2} from 2001:db8:1::1`,
    ]);
    assert.deepEqual(rootLinks(), linksBefore, 'the root namespace gained or lost an interface');

    const names = [lab.labNetns, lab.inetNetns].map((p) => p.split('/').pop()!);
    await lab.close();
    await lab.close(); // idempotent
    const left = netnsNames();
    for (const name of names) assert.ok(!left.includes(name), `${name} still listed: ${left.join(', ')}`);
    assert.deepEqual(rootLinks(), linksBefore, 'the root namespace gained or lost an interface');
  });

  test('a port nobody listens on is refused and nothing is logged for it', async () => {
    const own = await createLab();
    try {
      const reply = exchange(own, 'tcp', own.hostB, 9);
      assert.match(reply, /^error: ConnectionRefusedError/);
      assert.deepEqual(own.received(), []);
    } finally {
      await own.close();
    }
  });
});
