// A call's deny counters, read by the daemon's own nfnetlink dumps from the sandbox firewall that
// the daemon loads (plan/network-plan), in a namespace of this test's own. The elements and their
// counters are added with `nft` as the kernel's datapath would make them; the e2e network tests
// count real refused packets.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetfilterSocket } from '../../native/netlink.js';
import { planSandboxFirewall, SANDBOX_TABLE } from '../../src/plan/network-plan.js';
import { labSkipReason } from '../helpers/test-network.js';

const skip = labSkipReason();
const NS = `tctest-deny-${randomBytes(3).toString('hex')}`;

function nft(script: string): void {
  const r = spawnSync('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: script, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
}

/** The sandbox firewall the daemon loads, in place of whatever this test loaded before. */
function freshFirewall(): void {
  nft(`table inet ${SANDBOX_TABLE} {}\ndelete table inet ${SANDBOX_TABLE}\n${planSandboxFirewall({ allow: [], hostsFile: '' }, true, { 4: '10.213.0.0/16', 6: 'fd74:6f6f:6c63::/64' })}`);
}

async function readDenied(table = SANDBOX_TABLE) {
  const netns = openSync(`/run/netns/${NS}`, 'r');
  const sock = NetfilterSocket.open(netns);
  try {
    return await sock.denied('read denied egress', table);
  } finally {
    sock.close();
    closeSync(netns);
  }
}

describe('deny counters through nfnetlink (test namespace)', { skip }, () => {
  before(() => {
    assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0);
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  test('each deny set: destination, protocol, port and packets, most first; empty counters are left out', async () => {
    freshFirewall();
    assert.deepEqual(await readDenied(), []);
    nft(
      [
        `add element inet ${SANDBOX_TABLE} denied4 { 203.0.113.10 . tcp . 8081 counter packets 1 bytes 60, 203.0.113.10 . udp . 53 counter packets 3 bytes 90, 203.0.113.11 . tcp . 22 counter packets 0 bytes 0 }`,
        `add element inet ${SANDBOX_TABLE} denied6 { 2001:db8::1:0:0:1 . tcp . 443 counter packets 5 bytes 300 }`,
        `add element inet ${SANDBOX_TABLE} denied4x { 203.0.113.12 . 99 counter packets 1 bytes 84 }`,
        `add element inet ${SANDBOX_TABLE} denied6x { ff02::16 . ipv6-icmp counter packets 2 bytes 152 }`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(await readDenied(), [
      { destination: '2001:db8::1:0:0:1', protocol: 'tcp', port: 443, packets: 5 },
      { destination: '203.0.113.10', protocol: 'udp', port: 53, packets: 3 },
      { destination: 'ff02::16', protocol: 'ipv6-icmp', port: null, packets: 2 },
      { destination: '203.0.113.10', protocol: 'tcp', port: 8081, packets: 1 },
      { destination: '203.0.113.12', protocol: 'protocol 99', port: null, packets: 1 },
    ]);
  });

  test('full sets (4 x 4096 elements, what a tool can fill them with) are read in many parts, every element once', async () => {
    freshFirewall();
    const elements = (f: (i: number) => string) => Array.from({ length: 4096 }, (_, i) => `${f(i)} counter packets ${i + 1} bytes ${60 * (i + 1)}`).join(', ');
    const v4 = (i: number) => `10.${i >> 8}.${i & 255}.1`;
    const v6 = (i: number) => `2001:db8::${i.toString(16)}`;
    nft(
      [
        `add element inet ${SANDBOX_TABLE} denied4 { ${elements((i) => `${v4(i)} . tcp . ${1000 + i}`)} }`,
        `add element inet ${SANDBOX_TABLE} denied6 { ${elements((i) => `${v6(i)} . udp . ${2000 + i}`)} }`,
        `add element inet ${SANDBOX_TABLE} denied4x { ${elements((i) => `${v4(i)} . 99`)} }`,
        `add element inet ${SANDBOX_TABLE} denied6x { ${elements((i) => `${v6(i)} . ipv6-icmp`)} }`,
        '',
      ].join('\n'),
    );
    const denied = await readDenied();
    assert.equal(denied.length, 4 * 4096);
    assert.equal(new Set(denied.map((d) => `${d.destination} ${d.protocol} ${d.port}`)).size, 4 * 4096);
    assert.deepEqual(denied[0], { destination: '10.15.255.1', protocol: 'tcp', port: 5095, packets: 4096 });
    assert.deepEqual(denied.at(-1), { destination: '2001:db8::', protocol: 'ipv6-icmp', port: null, packets: 1 });
  });

  test('a table that is not there fails with the step, the set and the errno', async () => {
    await assert.rejects(readDenied('nosuchtable'), { message: 'read denied egress (set denied4): no such file or directory (ENOENT)' });
  });
});
