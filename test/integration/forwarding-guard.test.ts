// When toolcell switches forwarding on in a namespace that did not forward, it forwards nothing but
// sandbox traffic: proven in a namespace of this test's own between two others (left and right),
// where a connection across is refused with the guard and goes through without it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labSkipReason } from '../helpers/test-network.js';
import { ROOT } from '../helpers/paths.js';

const skip = labSkipReason();
const id = randomBytes(3).toString('hex');
const NS = { mid: `tctest-mid-${id}`, left: `tctest-left-${id}`, right: `tctest-right-${id}` };

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
}
function inNs(ns: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('nsenter', [`--net=/run/netns/${ns}`, '--', ...args], { encoding: 'utf8', timeout: 20_000, input });
}
const read = (ns: string, file: string) => inNs(ns, ['cat', file]).stdout.trim();

/** Runs ensureForwarding(family) in `mid`, in a node of its own (the namespace is per process). */
function ensure(family: 4 | 6): unknown {
  const code = `import(${JSON.stringify(`${ROOT}dist/src/linux/host-forwarding.js`)}).then(async (m) => console.log(JSON.stringify((await m.ensureForwarding(${family})) ?? null)))`;
  const r = inNs(NS.mid, [process.execPath, '-e', code]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** A TCP connect from left to right across mid: "ok" or "timeout". */
function across(): string {
  const code = 'import socket\ns = socket.socket(); s.settimeout(1)\ntry:\n    s.connect(("198.51.100.2", 7000)); print("ok")\nexcept socket.timeout:\n    print("timeout")\nexcept OSError as e:\n    print("errno", e.errno)';
  return inNs(NS.left, ['python3', '-c', code]).stdout.trim();
}

describe('forwarding guard (test namespaces)', { skip }, () => {
  let listener: ReturnType<typeof spawn> | undefined;
  before(() => {
    for (const ns of Object.values(NS)) ip('netns', 'add', ns);
    ip('-n', NS.mid, 'link', 'add', `tcg${id}l`, 'type', 'veth', 'peer', 'name', 'l0', 'netns', NS.left);
    ip('-n', NS.mid, 'link', 'add', `tcg${id}r`, 'type', 'veth', 'peer', 'name', 'r0', 'netns', NS.right);
    ip('-n', NS.mid, 'addr', 'add', '192.0.2.1/30', 'dev', `tcg${id}l`);
    ip('-n', NS.mid, 'addr', 'add', '198.51.100.1/30', 'dev', `tcg${id}r`);
    ip('-n', NS.left, 'addr', 'add', '192.0.2.2/30', 'dev', 'l0');
    ip('-n', NS.right, 'addr', 'add', '198.51.100.2/30', 'dev', 'r0');
    for (const [ns, dev] of [[NS.mid, `tcg${id}l`], [NS.mid, `tcg${id}r`], [NS.left, 'l0'], [NS.right, 'r0'], [NS.mid, 'lo'], [NS.right, 'lo'], [NS.left, 'lo']] as const) ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', NS.left, 'route', 'add', 'default', 'via', '192.0.2.1');
    ip('-n', NS.right, 'route', 'add', 'default', 'via', '198.51.100.1');
    listener = spawn('nsenter', [`--net=/run/netns/${NS.right}`, '--', 'python3', '-c', 'import socket\ns = socket.socket(); s.bind(("0.0.0.0", 7000)); s.listen()\nwhile True: s.accept()[0].close()'], { stdio: 'ignore' });
  });
  after(() => {
    listener?.kill('SIGKILL');
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  });

  test('a namespace that did not forward gets forwarding only for sandbox veths', () => {
    assert.equal(read(NS.mid, '/proc/sys/net/ipv4/ip_forward'), '0');
    assert.equal(across(), 'timeout', 'a namespace that does not forward');
    assert.deepEqual(ensure(4), { family: 4, acceptRa: [] });
    assert.equal(read(NS.mid, '/proc/sys/net/ipv4/ip_forward'), '1');
    assert.match(inNs(NS.mid, ['nft', 'list', 'table', 'inet', 'toolcell_guard']).stdout, /meta nfproto ipv4 iifname != "tcv\*" oifname != "tcv\*" drop/);
    assert.equal(across(), 'timeout');
    // Without the guard the same connection goes through: it is the guard that stops it.
    inNs(NS.mid, ['nft', 'delete', 'table', 'inet', 'toolcell_guard']);
    assert.equal(across(), 'ok');
    // Forwarding on already: the host's own policy is left as it is.
    assert.equal(ensure(4), null);
    assert.equal(inNs(NS.mid, ['nft', 'list', 'tables']).stdout, '');
  });

  test('IPv6: router advertisements stay accepted where they were (accept_ra 1 → 2)', () => {
    const dev = `tcg${id}l`;
    assert.equal(read(NS.mid, `/proc/sys/net/ipv6/conf/${dev}/accept_ra`), '1');
    const change = ensure(6) as { family: number; acceptRa: string[] };
    assert.equal(change.family, 6);
    assert.deepEqual([...change.acceptRa].sort(), [`tcg${id}l`, `tcg${id}r`]);
    assert.equal(read(NS.mid, `/proc/sys/net/ipv6/conf/${dev}/accept_ra`), '2');
    assert.equal(read(NS.mid, '/proc/sys/net/ipv6/conf/all/forwarding'), '1');
    assert.match(inNs(NS.mid, ['nft', 'list', 'table', 'inet', 'toolcell_guard']).stdout, /meta nfproto ipv6 iifname != "tcv\*" oifname != "tcv\*" drop/);
  });
});
