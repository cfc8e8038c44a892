// The sandbox's deny counters as nft prints them (-j -p: protocols as numbers, so the names do not
// depend on /etc/protocols, which minimal systems lack).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDenied } from '../../../src/linux/sandbox-network.js';

test('deny sets become destination, protocol name, port and packets, largest first; empty counters are left out', () => {
  const set = (name: string, elem: unknown[]) => ({ set: { family: 'inet', name, table: 'toolcell', elem } });
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      set('denied4', [
        { elem: { val: { concat: ['203.0.113.10', 6, 8081] }, counter: { packets: 1, bytes: 60 } } },
        { elem: { val: { concat: ['203.0.113.10', 17, 53] }, counter: { packets: 3, bytes: 90 } } },
        { elem: { val: { concat: ['203.0.113.11', 6, 22] }, counter: { packets: 0, bytes: 0 } } },
      ]),
      set('denied6x', [{ elem: { val: { concat: ['ff02::16', 58] }, counter: { packets: 2, bytes: 152 } } }]),
      set('denied4x', [{ elem: { val: { concat: ['203.0.113.12', 99] }, counter: { packets: 1, bytes: 84 } } }]),
      set('other', [{ elem: { val: { concat: ['198.51.100.1', 6, 1] }, counter: { packets: 9, bytes: 1 } } }]),
    ],
  });
  assert.deepEqual(parseDenied(json), [
    { destination: '203.0.113.10', protocol: 'udp', port: 53, packets: 3 },
    { destination: 'ff02::16', protocol: 'ipv6-icmp', port: null, packets: 2 },
    { destination: '203.0.113.10', protocol: 'tcp', port: 8081, packets: 1 },
    { destination: '203.0.113.12', protocol: 'protocol 99', port: null, packets: 1 },
  ]);
});
