// Allow entries that the sandbox firewall's fixed deny set covers whole can never work: the admin
// is told when profiles load, instead of finding out from refused calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllowEntry } from '../../../src/plan/egress-allow.js';
import { neverReachable } from '../../../src/plan/network-plan.js';

test('entries inside loopback, link-local, multicast, IPv4-mapped or reserved blocks, or their NAT64 images, are never reachable; others, and blocks that only overlap, are', () => {
  const texts = [
    '127.0.0.1:80',
    '169.254.169.254:80',
    '224.0.0.0/4:5353/udp',
    '[::ffff:1.2.3.4]:443',
    '[::1]:22',
    '[fe80::/64]:22',
    '[64:ff9b::a9fe:a9fe]:80',
    '[64:ff9b::7f00:0/104]:22',
    '[64:ff9b::a900:0/104]:80',
    '[64:ff9b::c633:6407]:443',
    '198.51.100.7:443',
    '[2001:db8::1]:443',
    '126.0.0.0/7:443',
    'pypi.org:443',
  ];
  const entries = texts.map(parseAllowEntry);
  assert.deepEqual(
    neverReachable(entries).map((e) => e.text),
    ['127.0.0.1:80', '169.254.169.254:80', '224.0.0.0/4:5353/udp', '[::ffff:1.2.3.4]:443', '[::1]:22', '[fe80::/64]:22', '[64:ff9b::a9fe:a9fe]:80', '[64:ff9b::7f00:0/104]:22'],
  );
});
