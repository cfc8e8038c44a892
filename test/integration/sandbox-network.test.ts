// The veth pair of a sandbox with an allowlist, made by the daemon's own rtnetlink requests: in a
// namespace of this test's own (standing in for the daemon's), for a process in a fresh network
// namespace (standing in for a held sandbox). What the kernel then holds is read back with `ip`;
// a refused request fails the wiring with the step and errno, and leaves nothing behind.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labSkipReason } from '../helpers/test-network.js';
import { ROOT } from '../helpers/paths.js';

const skip = labSkipReason();
const NS = `tctest-wire-${randomBytes(3).toString('hex')}`;

function inNs(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('nsenter', [`--net=/run/netns/${NS}`, '--', ...args], { encoding: 'utf8', timeout: 30_000 });
}

/**
 * In NS, in a node of its own (the daemon's namespace is per process): starts a process in a new
 * network namespace, runs `before` in it (shell), wires it for 203.0.113.10:8080 and reports what
 * the kernel holds on both sides, or the error; then removes the network and reports what is left.
 */
function wire(before = 'true', hold = false): { hostIf?: string; sandbox?: unknown[]; routes?: unknown[]; host?: unknown[]; error?: string; leftTables: string; leftLinks: string } {
  const code = `
    import { spawn, execFileSync } from 'node:child_process';
    const { wireSandboxNetwork } = await import(${JSON.stringify(`${ROOT}dist/src/linux/sandbox-network.js`)});
    const child = spawn('unshare', ['--net', 'sh', '-c', ${JSON.stringify(`${before} && echo ready && exec sleep 30`)}], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.on('data', resolve));
    const inSandbox = (...args) => JSON.parse(execFileSync('nsenter', ['-t', String(child.pid), '-n', 'ip', '-j', ...args]).toString());
    const out = {};
    try {
      const w = await wireSandboxNetwork(child.pid, { allow: [{ text: '203.0.113.10:8080', block: { family: 4, address: '203.0.113.10', prefix: 32 }, port: 8080, proto: 'tcp' }], hostsFile: '' });
      out.hostIf = w.slot.hostIf;
      out.sandbox = inSandbox('addr', 'show', 'eth0');
      out.routes = inSandbox('route', 'show', 'default');
      out.host = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', w.slot.hostIf]).toString());
      // Something else (another sandbox, handed a socket of this one) keeps the namespace.
      const { openSync } = await import('node:fs');
      if (${hold}) globalThis.held = openSync('/proc/' + child.pid + '/ns/net', 'r');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await w.remove();
    } catch (e) {
      out.error = e.message;
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // The pair goes with the sandbox's namespace, asynchronously in the kernel.
    for (let i = 0; i < 100 && execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth']).toString() !== ''; i++) await new Promise((r) => setTimeout(r, 20));
    out.leftTables = execFileSync('nft', ['list', 'tables']).toString();
    out.leftLinks = execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth']).toString();
    console.log(JSON.stringify(out));
    process.exit(0);
  `;
  const r = inNs([process.execPath, '--input-type=module', '-e', code]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof wire>;
}

describe('sandbox network through rtnetlink (test namespace)', { skip }, () => {
  before(() => {
    assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0);
    // Another daemon's veth in this namespace holds the first slot's name.
    assert.equal(spawnSync('ip', ['-n', NS, 'link', 'add', 'tcv0', 'type', 'bridge']).status, 0);
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  test('the pair, its addresses, the link up and the default route; a name another daemon holds is skipped', () => {
    const r = wire();
    assert.equal(r.error, undefined);
    assert.equal(r.hostIf, 'tcv1', 'tcv0 is taken: the next slot');
    const [eth0] = r.sandbox as { ifname: string; flags: string[]; addr_info: { local: string; prefixlen: number; family: string }[] }[];
    assert.equal(eth0?.ifname, 'eth0');
    assert.ok(eth0.flags.includes('UP'), eth0.flags.join(','));
    assert.deepEqual(eth0.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.213.0.6/30']);
    assert.deepEqual((r.routes as { dst: string; gateway: string; dev: string }[]).map((x) => `${x.dst} via ${x.gateway} dev ${x.dev}`), ['default via 10.213.0.5 dev eth0']);
    const [host] = r.host as { flags: string[]; addr_info: { local: string; prefixlen: number; family: string }[] }[];
    assert.ok(host!.flags.includes('UP'));
    assert.deepEqual(host!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.213.0.5/30']);
    assert.doesNotMatch(r.leftTables, /toolcell_\d/, 'the host table is deleted');
    assert.equal(r.leftLinks, '', 'the pair went with the namespace');
  });

  test('a namespace held on after the sandbox keeps no veth pair: the pair is deleted, then the host table', () => {
    const r = wire('true', true);
    assert.equal(r.error, undefined);
    assert.doesNotMatch(r.leftTables, /toolcell_\d/, 'the host table is deleted');
    assert.equal(r.leftLinks, '', 'the pair is gone although its namespace lives on');
  });

  test('a request the kernel refuses fails the wiring with its step and errno, and nothing is left', () => {
    // A default route already in the sandbox's namespace: the sandbox's own route is refused.
    const r = wire('ip link add d0 type veth peer name d1 && ip link set d0 up && ip link set d1 up && ip addr add 192.0.2.1/24 dev d0 && ip route add default via 192.0.2.254');
    assert.equal(r.error, 'sandbox network: configure sandbox link eth0: file already exists (EEXIST)');
    assert.doesNotMatch(r.leftTables, /toolcell_\d/, 'the host table loaded meanwhile is deleted');
    assert.equal(r.leftLinks, '');
  });
});
