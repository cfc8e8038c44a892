// The network rules of a sandbox with an allowlist are policy: golden files show every change in
// review (UPDATE_GOLDEN=1 rewrites them). The integration tests load the same text into real
// namespaces and prove what it does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, AddressPoolError } from '../../../src/plan/address-pool.js';
import { overlaps, parseAllowEntry, parseBlock } from '../../../src/plan/egress-allow.js';
import { HostResolveError, resolveHosts } from '../../../src/linux/resolve-hosts.js';
import { ALWAYS_DENIED, hostsFileFor, nat64Image, planNetworkRules, planSandboxFirewall, resolveAllow, type InterfaceAddress, type VethLinks } from '../../../src/plan/network-plan.js';
import { checkGolden } from '../../helpers/golden.js';

const CONFIG = { v4: parseBlock('10.213.0.0/16'), v6: parseBlock('fd74:6f6f:6c63::/64') };
const POOLS = { 4: '10.213.0.0/16', 6: 'fd74:6f6f:6c63::/64' };
const entries = (texts: string[]) => texts.map(parseAllowEntry);

/** The veth pair as the `ip` commands that would make it (the daemon sends netlink requests instead). */
function asIpCommands(l: VethLinks): [string, string] {
  const addr = (a: InterfaceAddress, dev: string) => `addr add ${a.address}/${a.prefix} dev ${dev}${a.family === 6 ? ' nodad' : ''}\n`;
  const host = [`link add ${l.hostIf} up type veth peer name ${l.sandboxIf} netns <sandbox>\n`, ...l.hostAddresses.map((a) => addr(a, l.hostIf))];
  const sandbox = [`link set ${l.sandboxIf} up\n`, ...l.sandboxAddresses.map((a) => addr(a, l.sandboxIf)), ...l.gateways.map((g) => `route add default via ${g.address} dev ${l.sandboxIf}\n`)];
  return [host.join(''), sandbox.join('')];
}

function render(texts: string[], resolved: Record<string, string[]>, v6: boolean): string {
  const slot = new AddressPool(CONFIG, [], '4242.777').slot(5);
  const net = { allow: resolveAllow(entries(texts), resolved), hostsFile: hostsFileFor('toolcell', resolved) };
  const r = planNetworkRules(net, v6 ? slot : { ...slot, v6: undefined }, POOLS);
  const [host, sandbox] = asIpCommands(r.links);
  return [`# veth pair, as ip commands (host)\n${host}`, `# veth pair, as ip commands (sandbox)\n${sandbox}`, `# nft -f (sandbox)\n${r.sandboxNft}`, `# nft -f (host)\n${r.hostNft}`, `# /etc/hosts\n${net.hostsFile}`].join('\n');
}

describe('network plan', () => {
  test('IPv4 allowlist with a host name (golden)', () => {
    checkGolden('network-v4.txt', render(['203.0.113.10:8080', '198.51.100.0/24:5432', 'pypi.org:443', '192.0.2.53:53/udp'], { 'pypi.org': ['151.101.0.223', '151.101.64.223'] }, false));
  });

  test('IPv6 destinations give the sandbox an IPv6 address and route (golden)', () => {
    checkGolden('network-v6.txt', render(['[2001:db8:1::10]:8080', '203.0.113.10:8080'], {}, true));
  });

  test('both walls drop a forged source and an IPv6 routing header before any accept; without an IPv6 slot the host forwards no IPv6', () => {
    const slot = new AddressPool(CONFIG, [], '4242.777').slot(5);
    const net = { allow: resolveAllow(entries(['[2001:db8:1::10]:53/udp', '203.0.113.10:53/udp']), {}), hostsFile: '' };
    const chain = (nft: string, name: string) => nft.split(`chain ${name} {\n`)[1]!.split('\n  }')[0]!.split('\n').map((l) => l.trim());
    // The host wall has no reply shortcut before from_sandbox: its first rules are the walls.
    const host = chain(planNetworkRules(net, slot, POOLS).hostNft, 'from_sandbox');
    assert.deepEqual(host.slice(0, 3), ['ip saddr != 10.213.0.22 drop', 'ip6 saddr != fd74:6f6f:6c63::16 drop', 'exthdr rt exists drop']);
    assert.deepEqual(chain(planNetworkRules(net, { ...slot, v6: undefined }, POOLS).hostNft, 'from_sandbox').slice(0, 2), ['ip saddr != 10.213.0.22 drop', 'meta nfproto ipv6 drop']);
    for (const v6 of [true, false]) {
      const sandbox = chain(planSandboxFirewall(net, v6, POOLS), 'output');
      // The routing header before replies too: IPV6_RTHDR can be set on an established socket.
      assert.equal(sandbox.indexOf('exthdr rt exists drop'), 1);
      const forged = sandbox.indexOf('fib saddr type != local drop');
      assert.ok(forged > 0 && forged < sandbox.findIndex((r) => / dport \d+ accept$/.test(r)), sandbox.join('\n'));
    }
  });

  test('NAT64 images (64:ff9b::/96) of the always-refused IPv4 blocks and of the IPv4 pool are refused by both walls', () => {
    assert.deepEqual(
      ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '10.213.0.0/16', '198.51.100.7'].map(nat64Image),
      ['64:ff9b::/104', '64:ff9b::7f00:0/104', '64:ff9b::a9fe:0/112', '64:ff9b::e000:0/100', '64:ff9b::ad5:0/112', '64:ff9b::c633:6407/128'],
    );
    for (const v4 of ALWAYS_DENIED[4]) assert.ok(ALWAYS_DENIED[6].includes(nat64Image(v4)), v4);
    const slot = new AddressPool(CONFIG, [], '4242.777').slot(5);
    const r = planNetworkRules({ allow: [], hostsFile: '' }, slot, POOLS);
    for (const nft of [r.sandboxNft, r.hostNft]) {
      const v6 = /ip6 daddr \{ ([^}]+) \}/.exec(nft)![1]!.split(', ');
      for (const image of ['64:ff9b::a9fe:0/112', '64:ff9b::7f00:0/104', '64:ff9b::ad5:0/112']) assert.ok(v6.includes(image), `${image} in ${v6.join(', ')}`);
    }
  });

  test("host names whose addresses are NAT64 images of refused IPv4 (DNS64 answers) fail the call; others' images resolve", async () => {
    // Literal addresses: getaddrinfo returns them as they are, without asking DNS.
    for (const name of ['64:ff9b::a9fe:a9fe', '64:ff9b::7f00:1']) {
      await assert.rejects(resolveHosts([name], true), (e: Error) => e instanceof HostResolveError && e.message.includes('none of which a sandbox may reach'), name);
    }
    assert.deepEqual(await resolveHosts(['64:ff9b::c633:6407'], true), { '64:ff9b::c633:6407': ['64:ff9b::c633:6407'] });
  });

  test('host names resolve to one rule per address; an unresolved name is a bug, not a silent gap', () => {
    const allow = resolveAllow(entries(['a.example:443/udp']), { 'a.example': ['192.0.2.1', '2001:db8::1'] });
    assert.deepEqual(
      allow.map((a) => [a.block, a.port, a.proto]),
      [
        [{ family: 4, address: '192.0.2.1', prefix: 32 }, 443, 'udp'],
        [{ family: 6, address: '2001:db8::1', prefix: 128 }, 443, 'udp'],
      ],
    );
    assert.throws(() => resolveAllow(entries(['b.example:443']), {}), /host b\.example was not resolved/);
  });
});

describe('address pool', () => {
  test('slots are /30s (host .1, sandbox .2) and /126s, named for the daemon', () => {
    const pool = new AddressPool(CONFIG, [], '4242.777');
    const a = pool.acquire();
    const b = pool.acquire();
    assert.deepEqual([a.index, a.hostIf, a.hostTable, a.v4, a.v6], [0, 'tcv0', 'toolcell_4242_777_0', { host: '10.213.0.1', sandbox: '10.213.0.2', prefix: 30 }, { host: 'fd74:6f6f:6c63::1', sandbox: 'fd74:6f6f:6c63::2', prefix: 126 }]);
    assert.deepEqual([b.v4.host, b.v6?.sandbox], ['10.213.0.5', 'fd74:6f6f:6c63::6']);
  });

  test("slots overlapping the host's networks are never handed out", () => {
    const pool = new AddressPool(CONFIG, [parseBlock('10.213.0.0/29'), parseBlock('10.213.0.8/32'), parseBlock('0.0.0.0/0')], 'o.1');
    assert.equal(pool.acquire().v4.host, '10.213.0.13');
  });

  test('a released slot is reused last; an exhausted pool says so', () => {
    const pool = new AddressPool({ ...CONFIG, v4: parseBlock('10.213.0.0/28') }, [], 'o.1');
    const slots = [pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()].map((s) => s.index);
    assert.deepEqual(slots, [0, 1, 2, 3]);
    assert.throws(() => pool.acquire(), (e: Error) => e instanceof AddressPoolError && e.message === 'no free address in network_pool 10.213.0.0/28 (4 sandboxes with network are running)');
    pool.release(1);
    assert.equal(pool.acquire().index, 1);
    pool.release(2);
    pool.release(0);
    assert.equal(pool.acquire().index, 2);
  });

  test('a small network_pool6 bounds the slots: every v6 address stays inside it', () => {
    const v6 = parseBlock('fd74:6f6f:6c63::/120');
    const pool = new AddressPool({ v4: parseBlock('10.213.0.0/16'), v6 }, [], 'o.1');
    assert.equal(pool.size, 64);
    const inside = (address: string) => overlaps(v6, { family: 6, address, prefix: 128 });
    const slots: number[] = [];
    for (let i = 0; i < 64; i++) {
      const s = pool.acquire();
      slots.push(s.index);
      assert.ok(s.v6 && inside(s.v6.host) && inside(s.v6.sandbox), `slot ${s.index}: ${s.v6?.sandbox} lies outside ${pool.cidrs[6]}`);
    }
    assert.equal(new Set(slots).size, 64);
    assert.equal(pool.slot(63).v6?.sandbox, 'fd74:6f6f:6c63::fe');
    assert.throws(() => pool.acquire(), (e: Error) => e instanceof AddressPoolError && e.message === 'no free address in network_pool6 fd74:6f6f:6c63::/120 (64 sandboxes with network are running)');
  });

  test('the IPv4 pool bounds the slots when it is the smaller', () => {
    assert.equal(new AddressPool(CONFIG, [], 'o.1').size, 16384);
    assert.equal(new AddressPool({ v4: parseBlock('10.0.0.0/8'), v6: CONFIG.v6 }, [], 'o.1').size, 65536);
    assert.equal(new AddressPool({ ...CONFIG, v4: parseBlock('10.213.0.0/28') }, [], 'o.1').size, 4);
  });

  test('a pool too small for one slot is refused', () => {
    assert.throws(() => new AddressPool({ ...CONFIG, v4: parseBlock('10.213.0.0/29') }, [], 'o.1'), /network_pool 10\.213\.0\.0\/29: expected an IPv4 block of \/28 or wider/);
  });
});
