import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GROUPS, type ArgCheck } from '../../../src/plan/seccomp-baseline.js';
import { planSeccomp, SeccompPolicyError } from '../../../src/plan/seccomp-policy.js';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { describeProfileError } from '../../../src/profile/profile.js';

const none = { action: 'errno' as const, allow: [], deny: [] };
const calls = (p: ReturnType<typeof planSeccomp>) => [...new Set(p.rules.map((r) => r.syscall))].sort();

describe('planSeccomp', () => {
  test('the baseline has every group, and each group says why', () => {
    assert.ok(Object.keys(GROUPS).length >= 18);
    for (const [name, g] of Object.entries(GROUPS)) {
      assert.match(name, /^@[a-z0-9-]+$/);
      assert.ok(g.why.length > 20, `${name} says why`);
      assert.ok(g.rules.length > 0, `${name} has rules`);
    }
    const p = planSeccomp(none);
    for (const c of ['ptrace', 'bpf', 'userfaultfd', 'io_uring_setup', 'keyctl', 'mount', 'unshare', 'setns', 'clone', 'socket', 'ioctl', 'personality']) {
      assert.ok(calls(p).includes(c), c);
    }
    assert.deepEqual(p.enosys, ['clone3', 'openat2']);
  });

  test('argument rules: clone by namespace flag, socket by family and protocol, ioctl by command, personality by value', () => {
    const p = planSeccomp(none);
    const clone = p.rules.filter((r) => r.syscall === 'clone');
    assert.equal(clone.length, 8);
    assert.ok(clone.every((r) => r.when?.length === 1 && r.when[0]!.op === 'masked_eq'));
    const families = p.rules.filter((r) => r.syscall === 'socket' && r.when!.length === 1).map((r) => `${r.when![0]!.op} ${r.when![0]!.value}`);
    assert.deepEqual(families, ['eq 0', 'eq 3', 'eq 4', 'eq 5', 'eq 6', 'eq 7', 'eq 8', 'eq 9', 'gt 10']);
    const ioctl = p.rules.filter((r) => r.syscall === 'ioctl').map((r) => r.when![0]!.value);
    assert.deepEqual(ioctl, [0x5412n, 0x541cn, 0x5423n]);
  });

  test('socket protocols of AF_INET and AF_INET6: exactly 0, ICMP, TCP, UDP and ICMPv6 pass, whatever the bits above 32; other families\' are theirs', () => {
    const rules = planSeccomp(none).rules.filter((r) => r.source === '@socket-protocols');
    const holds = (c: ArgCheck, x: bigint) => (c.op === 'eq' ? x === c.value : c.op === 'gt' ? x > c.value : (x & c.mask!) === c.value);
    const denied = (family: bigint, protocol: bigint) => rules.some((r) => r.when!.every((c) => holds(c, c.arg === 0 ? family : protocol)));
    for (const family of [2n, 10n]) {
      for (let x = 0n; x < 300n; x++) assert.equal(denied(family, x), ![0n, 1n, 6n, 17n, 58n].includes(x), `${family} ${x}`);
      for (const x of [0x100000006n, 0x8000000000000011n, 0xffffffffffffffffn]) assert.equal(denied(family, x), true, x.toString(16));
    }
    for (const family of [1n, 16n]) assert.equal(denied(family, 12n), false, `family ${family}`);
  });

  test('setuid and setgid bits are refused wherever a mode is set, and only those', () => {
    const rules = planSeccomp(none).rules.filter((r) => r.source === '@setuid-files');
    assert.deepEqual([...new Set(rules.map((r) => r.syscall))].sort(), ['chmod', 'creat', 'fchmod', 'fchmodat', 'fchmodat2', 'mknod', 'mknodat', 'open', 'openat']);
    const denied = (syscall: string, mode: bigint) => rules.some((r) => r.syscall === syscall && (mode & r.when![0]!.mask!) === r.when![0]!.value);
    for (const mode of [0o4755n, 0o2755n, 0o6755n, 0o104755n]) assert.equal(denied('fchmodat', mode), true, mode.toString(8));
    for (const mode of [0o755n, 0o1777n, 0o644n, 0n]) assert.equal(denied('fchmodat', mode), false, mode.toString(8));
  });

  test('the personality rules deny exactly the values that are neither 0 nor 0xffffffff', () => {
    const rules = planSeccomp(none).rules.filter((r) => r.syscall === 'personality');
    const denied = (x: bigint) => rules.some((r) => (x & r.when![0]!.mask!) === r.when![0]!.value);
    for (const x of [0n, 0xffffffffn]) assert.equal(denied(x), false, x.toString(16));
    for (const x of [1n, 6n, 8n, 0x40000n, 0x80000000n, 0xfffffffen, 0x7fffffffn]) assert.equal(denied(x), true, x.toString(16));
  });

  test('allow takes out groups and syscalls; deny adds; a whole denial replaces argument rules', () => {
    const p = planSeccomp({ action: 'kill', allow: ['@debug', 'bpf', 'clone3'], deny: ['socket', '@clock'] });
    assert.ok(!calls(p).includes('ptrace'));
    assert.ok(!calls(p).includes('bpf'));
    assert.deepEqual(p.enosys, ['openat2']);
    const socket = p.rules.filter((r) => r.syscall === 'socket');
    assert.deepEqual(socket.map((r) => [r.when, r.fromProfile]), [[undefined, true]]);
  });

  test('unknown groups are errors naming the key, and a profile reports them with file and line', () => {
    assert.throws(() => planSeccomp({ ...none, allow: ['@nope'] }), (e: unknown) => e instanceof SeccompPolicyError && e.key === 'seccomp.allow[0]');
    const r = parseProfile('t', 't.toml', 'description = "d"\ncommand = ["/bin/true"]\n[seccomp]\ndeny = ["@mount", "@nope"]\n');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(describeProfileError(r.errors[0]!), /^t\.toml:4: seccomp\.deny\[1\]: unknown group "@nope" \(known: @mount, /);
  });
});

describe('parseAuditRecord (kernel seccomp audit lines from /dev/kmsg)', async () => {
  const { parseAuditRecord } = await import('../../../src/linux/read-seccomp-log.js');
  test('a kill and a log record; other lines ignored', () => {
    const kill =
      '5,89,5136505976,-;audit: type=1326 audit(1795306250.765:89): auid=4294967295 uid=65534 gid=65534 ses=4294967295 pid=16943 comm="probe" exe="/probe" sig=31 arch=c000003e syscall=310 compat=0 ip=0x439759 code=0x80000000';
    assert.deepEqual(parseAuditRecord(kill), { timeMs: 1795306250765, uid: 65534, arch: 0xc000003e, nr: 310, action: 'kill' });
    const log = kill.replace('sig=31', 'sig=0').replace('code=0x80000000', 'code=0x7ffc0000');
    assert.deepEqual(parseAuditRecord(log), { timeMs: 1795306250765, uid: 65534, arch: 0xc000003e, nr: 310, action: 'log' });
    assert.deepEqual(parseAuditRecord(`${kill}\n`), parseAuditRecord(kill));
    assert.equal(parseAuditRecord(kill.replace('code=0x80000000', 'code=0x50001')), undefined);
    assert.equal(parseAuditRecord(kill.replace(' code=0x80000000', '')), undefined);
    assert.equal(parseAuditRecord('6,1,2,-;eth0: link up'), undefined);
  });

  // comm (prctl(PR_SET_NAME)) and exe (the name of the file exec'd) are the tool's to choose, and
  // stand between the real uid and the real syscall: a blocked ptrace (101) must not read as getpid.
  const record = (task: string, tail = 'sig=31 arch=c000003e syscall=101 compat=0 ip=0x439759 code=0x80000000') =>
    `5,90,5136505977,-;audit: type=1326 audit(1795306250.765:90): auid=4294967295 uid=3001 gid=3001 ses=4294967295 subj=unconfined pid=16944 ${task} ${tail}`;
  const ptraceKill = { timeMs: 1795306250765, uid: 3001, arch: 0xc000003e, nr: 101, action: 'kill' };
  const hex = (text: string) => Buffer.from(text).toString('hex').toUpperCase();
  const forged: readonly [string, string][] = [
    ['comm="syscall=39"', 'comm="syscall=39" exe="/usr/bin/python3.12"'],
    ['comm="arch=40000003 syscall=1"', 'comm="arch=40000003 syscall=1" exe="/usr/bin/python3.12"'],
    ['exe="/tmp/ sig=0 arch=c000003e syscall=39"', 'comm="x" exe="/tmp/ sig=0 arch=c000003e syscall=39"'],
    ['a whole tail in comm (code=0x7ffc0000: log)', 'comm="a sig=0 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x7ffc0000" exe="/x"'],
    ['uid=0 in comm and exe', 'comm="uid=0" exe="/tmp/uid=0 gid=0"'],
    ['a whole record in exe', 'comm="x" exe="audit: type=1326 audit(1.001:1): auid=0 uid=0 gid=0 ses=0 pid=1 comm="y" exe="z" sig=0 arch=40000003 syscall=39 compat=1 ip=0x1 code=0x7ffc0000"'],
    ['hex-encoded comm and exe (the kernel\'s form for a space or quote)', `comm=${hex('syscall=39')} exe=${hex('/tmp/ sig=0 arch=40000003 syscall=20 compat=0 ip=0x0 code=0x7ffc0000')}`],
  ];
  for (const [name, task] of forged) {
    test(`a record the tool tried to falsify: ${name}`, () => {
      assert.deepEqual(parseAuditRecord(record(task)), ptraceKill);
    });
  }

  test('a record cut short is not completed from the tool\'s text', () => {
    assert.equal(parseAuditRecord(record('comm="x" exe="/x sig=0 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x7ffc0000"', 'sig=31 arch=c000003e')), undefined);
  });
});
