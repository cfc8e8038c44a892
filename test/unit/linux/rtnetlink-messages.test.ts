// The rtnetlink requests for a sandbox's veth pair, byte for byte against the layouts of the
// kernel's headers, and the parsing of its answers. The integration and network tests send them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { answerTo, getLink, linkUp, newAddress, newDefaultRoute, newVethPair } from '../../../src/linux/rtnetlink-messages.js';

const hex = (b: Buffer) => b.toString('hex');
const join = (...parts: string[]) => parts.join('');

describe('rtnetlink requests', () => {
  test('addr add 10.213.0.22/30 dev 2: nlmsghdr (create, exclusive, ack), ifaddrmsg, IFA_LOCAL and IFA_ADDRESS', () => {
    assert.equal(hex(newAddress(7, 2, { family: 4, address: '10.213.0.22', prefix: 30 })), join('28000000', '1400', '0506', '07000000', '00000000', '021e0000', '02000000', '080002000ad50016', '080001000ad50016'));
  });

  test('IPv6 addresses carry IFA_F_NODAD and sixteen address bytes', () => {
    const m = newAddress(1, 3, { family: 6, address: 'fd74:6f6f:6c63::16', prefix: 126 });
    assert.equal(hex(m.subarray(16, 24)), '0a7e020003000000');
    assert.equal(hex(m.subarray(24, 44)), join('14000200', 'fd746f6f6c6300000000000000000016'));
  });

  test('route add default via 10.213.0.21 dev 2: rtmsg in the main table, RTA_GATEWAY and RTA_OIF', () => {
    assert.equal(hex(newDefaultRoute(9, 2, 4, '10.213.0.21')), join('2c000000', '1800', '0506', '09000000', '00000000', '02000000fe030001', '00000000', '080005000ad50015', '0800040002000000'));
  });

  test('link add tcv5 up type veth peer name eth0 netns <fd 18>: the peer nested in IFLA_LINKINFO / IFLA_INFO_DATA / VETH_INFO_PEER, not up', () => {
    const expected = join(
      '68000000', '1000', '0506', '01000000', '00000000',
      '0000000000000000', '01000000', '01000000', // ifinfomsg: host end up
      '09000300', '7463763500000000', // IFLA_IFNAME "tcv5", padded to four bytes
    );
    const m = newVethPair(1, 'tcv5', 'eth0', 18);
    assert.equal(hex(m.subarray(0, 44)), expected);
    const linkinfo = m.subarray(44);
    assert.equal(hex(linkinfo), join(
      '3c001200', '0900010076657468', '00000000', // IFLA_LINKINFO, IFLA_INFO_KIND "veth"
      '2c000200', '28000100', // IFLA_INFO_DATA, VETH_INFO_PEER
      '0000000000000000', '00000000', '00000000', // its ifinfomsg: not up
      '09000300', '6574683000000000', // IFLA_IFNAME "eth0"
      '08001c00', '12000000', // IFLA_NET_NS_FD 18
    ));
  });

  test('link set 4 up, and the lookup of a link by name', () => {
    assert.equal(hex(linkUp(2, 4)), join('20000000', '1000', '0500', '02000000', '00000000', '00000000', '04000000', '01000000', '01000000'));
    assert.equal(hex(getLink(3, 'lo')), join('28000000', '1200', '0100', '03000000', '00000000', '0000000000000000', '0000000000000000', '070003006c6f0000'));
  });
});

describe('rtnetlink answers', () => {
  const header = (len: number, type: number, seq: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(len, 0);
    b.writeUInt16LE(type, 4);
    b.writeUInt32LE(seq, 8);
    return b;
  };
  const error = (seq: number, code: number) => {
    const body = Buffer.alloc(20);
    body.writeInt32LE(code, 0);
    return Buffer.concat([header(36, 2, seq), body]);
  };
  const link = (seq: number, index: number) => {
    const body = Buffer.alloc(16);
    body.writeInt32LE(index, 4);
    return Buffer.concat([header(32, 16, seq), body]);
  };

  test('an acknowledgement, an error with its errno, a link with its index', () => {
    assert.deepEqual(answerTo(error(4, 0), 4), { kind: 'ack' });
    assert.deepEqual(answerTo(error(4, -17), 4), { kind: 'error', errno: 17 });
    assert.deepEqual(answerTo(link(5, 7), 5), { kind: 'link', index: 7 });
  });

  test('the answer to another request, or a cut-off message, is not taken for this one', () => {
    assert.equal(answerTo(Buffer.concat([error(3, -1), link(6, 2)]), 4), undefined);
    assert.deepEqual(answerTo(Buffer.concat([error(3, -1), link(4, 2)]), 4), { kind: 'link', index: 2 });
    assert.equal(answerTo(error(4, -17).subarray(0, 20), 4), undefined);
  });
});
