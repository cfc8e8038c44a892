// The deny counters' dump over nfnetlink. The answers are what a kernel (6.18) sent for a table
// made with `nft` (elements added with their counters), read with these requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byPackets, DENY_SETS, getSetElements, parseSetDump } from '../../../src/linux/nft-set-messages.js';
import { planSandboxFirewall } from '../../../src/plan/network-plan.js';

const hex = (s: string) => Buffer.from(s, 'hex');

test('the request dumps one set of an inet table (NFT_MSG_GETSETELEM, NLM_F_DUMP)', () => {
  assert.equal(getSetElements(7, 'toolcell', 'denied4').toString('hex'), '300000000d0a01030700000000000000010000000d000100746f6f6c63656c6c000000000c00020064656e6965643400');
  assert.equal(getSetElements(8, 'toolcell', 'denied6x').toString('hex'), '340000000d0a01030800000000000000010000000d000100746f6f6c63656c6c000000000d00020064656e696564367800000000');
});

test('elements become destination, protocol name, port and packets; empty counters are left out; the dump ends at NLMSG_DONE', () => {
  // denied4: 203.0.113.10 . udp . 53 (3 packets), 203.0.113.11 . tcp . 22 (0), 203.0.113.10 . tcp . 8081 (1).
  const first = parseSetDump(
    hex(
      '000100000c0a020007000000584f0000010000060d000100746f6f6c63656c6c000000000c00020064656e6965643400d0000300440001001400010010000100cb00710a11000000003500002c0007000c000100636f756e746572001c0002000c000100000000000000005a0c0002000000000000000003440001001400010010000100cb00710b06000000001600002c0007000c000100636f756e746572001c0002000c00010000000000000000000c0002000000000000000000440001001400010010000100cb00710a060000001f9100002c0007000c000100636f756e746572001c0002000c000100000000000000003c0c0002000000000000000001',
    ),
    7,
    'denied4',
  );
  assert.deepEqual(first, {
    kind: 'part',
    done: false,
    elements: [
      { destination: '203.0.113.10', protocol: 'udp', port: 53, packets: 3 },
      { destination: '203.0.113.10', protocol: 'tcp', port: 8081, packets: 1 },
    ],
  });
  // The last part: an empty list, then NLMSG_DONE.
  const last = parseSetDump(hex('340000000c0a020007000000584f0000010000060d000100746f6f6c63656c6c000000000c00020064656e696564340004000300140000000300020007000000584f000000000000'), 7, 'denied4');
  assert.deepEqual(last, { kind: 'part', done: true, elements: [] });
});

test('IPv6 keys without a port: the address as RFC 5952 writes it, the protocol named', () => {
  const dump = parseSetDump(
    hex(
      '840000000c0a020008000000584f0000010000060d000100746f6f6c63656c6c000000000d00020064656e696564367800000000500003004c0001001c00010018000100ff0200000000000000000000000000163a0000002c0007000c000100636f756e746572001c0002000c00010000000000000000980c0002000000000000000002',
    ),
    8,
    'denied6x',
  );
  assert.deepEqual(dump, { kind: 'part', done: false, elements: [{ destination: 'ff02::16', protocol: 'ipv6-icmp', port: null, packets: 2 }] });
});

test('a refused dump is an errno; answers to another request and keys of another length are ignored', () => {
  assert.deepEqual(parseSetDump(hex('480000000200000009000000584f0000feffffff340000000d0a01030900000000000000010000000d000100746f6f6c63656c6c000000000e0002006e6f73756368736574000000'), 9, 'nosuchset'), { kind: 'error', errno: 2 });
  const denied4Part = hex('340000000c0a020007000000584f0000010000060d000100746f6f6c63656c6c000000000c00020064656e696564340004000300140000000300020007000000584f000000000000');
  assert.deepEqual(parseSetDump(denied4Part, 8, 'denied4'), { kind: 'part', done: false, elements: [] });
  // A denied4 element read as denied6 (its key is 12 bytes, not 24): nothing, rather than a wrong address.
  const denied4Elements = hex(
    '000100000c0a020007000000584f0000010000060d000100746f6f6c63656c6c000000000c00020064656e6965643400d0000300440001001400010010000100cb00710a11000000003500002c0007000c000100636f756e746572001c0002000c000100000000000000005a0c0002000000000000000003440001001400010010000100cb00710b06000000001600002c0007000c000100636f756e746572001c0002000c00010000000000000000000c0002000000000000000000440001001400010010000100cb00710a060000001f9100002c0007000c000100636f756e746572001c0002000c000100000000000000003c0c0002000000000000000001',
  );
  assert.deepEqual(parseSetDump(denied4Elements, 7, 'denied6'), { kind: 'part', done: false, elements: [] });
});

test('the order shown: most packets first, then by destination', () => {
  const d = (destination: string, packets: number) => ({ destination, protocol: 'tcp', port: 1, packets });
  assert.deepEqual([d('b', 1), d('a', 1), d('c', 5)].sort(byPackets), [d('c', 5), d('a', 1), d('b', 1)]);
});

test("the sets read are the sandbox firewall's deny sets, with the key each is parsed by", () => {
  const firewall = planSandboxFirewall({ allow: [], hostsFile: '' }, true, { 4: '10.213.0.0/16', 6: 'fd74:6f6f:6c63::/64' });
  const sets = Object.fromEntries([...firewall.matchAll(/set (\w+) \{\n\s+type ([^\n]+)/g)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual(sets, {
    denied4: 'ipv4_addr . inet_proto . inet_service',
    denied6: 'ipv6_addr . inet_proto . inet_service',
    denied4x: 'ipv4_addr . inet_proto',
    denied6x: 'ipv6_addr . inet_proto',
  });
  for (const [name, type] of Object.entries(sets)) assert.deepEqual(DENY_SETS[name], { family: type.startsWith('ipv4') ? 4 : 6, port: type.endsWith('inet_service') }, name);
});
