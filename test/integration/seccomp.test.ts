// The syscall filter inside real sandboxes: try-syscall (native/try-syscall.c) makes one call per
// probe; outside a filter each probe succeeds or fails with something other than EPERM, so an
// EPERM (action errno) or a SIGSYS kill (action kill) is the filter's doing.
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { syscallName } from '../../native/seccomp.js';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { compileSeccomp } from '../../src/linux/compile-seccomp.js';
import { planSeccomp, SeccompPolicyError } from '../../src/plan/seccomp-policy.js';
import { asNobody, profileFrom, realKernelSkipReason, scriptToolToml, silentLogger } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/paths.js';

const skip = realKernelSkipReason();

function tool(seccomp: string): ReturnType<typeof profileFrom> {
  const toml = scriptToolToml({ description: 'seccomp probe', readOnly: [`${ROOT}dist/native/try-syscall:/probe`], limits: 'timeout = "20s"', sections: `[seccomp]\n${seccomp}` });
  return profileFrom('probe', toml);
}

/**
 * Runs each probe; a probe killed by SIGSYS shows as "NAME killed", one ended by another signal
 * as "NAME signal-N" (so a failure says what happened instead of leaving the probe out).
 */
async function probe(seccomp: string, names: readonly string[]): Promise<Record<string, string>> {
  const script = `for p in ${names.join(' ')}; do /probe $p 2>/dev/null; rc=$?; if [ $rc = 159 ]; then echo "$p killed"; elif [ $rc -gt 128 ]; then echo "$p signal-$((rc - 128))"; fi; done; true`;
  const r = await runInvocation(asNobody(tool(seccomp)), { script }, { logger: silentLogger });
  assert.equal(r.exitCode, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

const DENIED = [
  'ptrace', 'keyctl', 'add_key', 'bpf', 'userfaultfd', 'io_uring_setup', 'perf_event_open', 'process_vm_readv', 'kcmp',
  'unshare-user', 'setns', 'clone-newuser', 'socket-netlink', 'socket-vsock', 'socket-packet', 'ioctl-tiocsti',
  'ioctl-tioclinux', 'personality-bsd', 'personality-norandom', 'mount', 'umount2', 'init_module', 'reboot', 'swapon',
  'settimeofday', 'syslog', 'acct', 'name_to_handle_at', 'modify_ldt', 'iopl',
  'socket-dccp', 'socket-dccp-high-bits', 'ioctl-tiocsetd', 'chmod-setuid', 'chmod-setgid', 'fchmodat2-setuid', 'open-setuid',
  'mknod-setuid',
] as const;
const ALLOWED = ['socket-inet', 'socket-unix', 'socket-udp', 'chmod-plain', 'personality-query', 'personality-linux', 'getpid'] as const;

describe('seccomp (real bwrap, real filters)', { skip }, () => {
  // First in this file: without auditd the kernel lets only ~10 audit lines through per 5 s, and
  // the probe tests below produce dozens.
  test('action kill: the result names the syscalls that killed, from the kernel log', async () => {
    const script = '/probe ptrace; /probe bpf; /probe bpf; /probe getpid';
    const r = await runInvocation(asNobody(tool('action = "kill"')), { script }, { logger: silentLogger });
    assert.equal(r.stdout, 'getpid ok\n');
    assert.deepEqual(r.seccompEvents, [
      { syscall: 'ptrace', action: 'kill', count: 1 },
      { syscall: 'bpf', action: 'kill', count: 2 },
    ]);
  });

  test('action errno: every baseline entry and argument rule gives EPERM; ordinary calls work; clone3 and openat2 are ENOSYS', async () => {
    const got = await probe('action = "errno"', [...DENIED, ...ALLOWED, 'clone3', 'openat2']);
    const expected = Object.fromEntries([...DENIED.map((n) => [n, 'EPERM']), ...ALLOWED.map((n) => [n, 'ok']), ['clone3', 'ENOSYS'], ['openat2', 'ENOSYS']]);
    assert.deepEqual(got, expected);
  });

  test('action kill: every baseline entry kills with SIGSYS', async () => {
    const got = await probe('action = "kill"', [...DENIED, 'getpid', 'clone3']);
    assert.deepEqual(got, Object.fromEntries([...DENIED.map((n) => [n, 'killed']), ['getpid', 'ok'], ['clone3', 'ENOSYS']]));
  });

  test('foreign ABIs are killed in every mode: x32', async () => {
    for (const action of ['errno', 'kill', 'log']) {
      assert.deepEqual(await probe(`action = "${action}"`, ['x32-getpid']), { 'x32-getpid': 'killed' }, action);
    }
  });

  test('foreign ABIs are killed in every mode: i386 int 0x80', async (t) => {
    // Some hosts (kernels booted with ia32_emulation=0, some hypervisors) have no i386 entry at
    // all: int 0x80 faults with SIGSEGV before any filter sees it, so there is nothing to kill.
    const bare = spawnSync(`${ROOT}dist/native/try-syscall`, ['int80'], { encoding: 'utf8' });
    if (bare.status !== 0) {
      t.skip(`this host has no i386 syscall entry: int 0x80 outside any filter ends with ${bare.signal ?? `exit status ${bare.status}`}`);
      return;
    }
    for (const action of ['errno', 'kill', 'log']) {
      assert.deepEqual(await probe(`action = "${action}"`, ['int80']), { int80: 'killed' }, action);
    }
  });

  test('action log allows (and logs) what errno would refuse', async () => {
    const got = await probe('action = "log"', ['ptrace', 'bpf', 'socket-netlink', 'clone3']);
    assert.deepEqual(got, { ptrace: 'ok', bpf: 'EINVAL', 'socket-netlink': 'ok', clone3: 'EINVAL' });
  });

  test('action log: hits are reported where the kernel audits them', async (t) => {
    const script = '/probe ptrace; /probe bpf';
    const r = await runInvocation(asNobody(tool('action = "log"')), { script }, { logger: silentLogger });
    assert.equal(r.stdout, 'ptrace ok\nbpf EINVAL\n');
    if (r.seccompEvents?.length === 0) {
      t.skip('this kernel writes no audit record for SECCOMP_RET_LOG (no audit rules loaded); kills are still reported');
      return;
    }
    assert.deepEqual(r.seccompEvents, [
      { syscall: 'ptrace', action: 'log', count: 1 },
      { syscall: 'bpf', action: 'log', count: 1 },
    ]);
  });

  test('a profile that allows a group or a syscall really gets it, and only that', async () => {
    const got = await probe('allow = ["@debug", "bpf"]', ['ptrace', 'kcmp', 'bpf', 'keyctl']);
    assert.deepEqual(got, { ptrace: 'ok', kcmp: 'ok', bpf: 'EINVAL', keyctl: 'EPERM' });
    const sockets = await probe('allow = ["@socket-families"]', ['socket-netlink', 'ioctl-tiocsti']);
    assert.deepEqual(sockets, { 'socket-netlink': 'ok', 'ioctl-tiocsti': 'EPERM' });
  });

  test('deny adds: a whole syscall and a group', async () => {
    const got = await probe('deny = ["getpid", "@clock"]', ['getpid', 'socket-inet']);
    assert.deepEqual(got, { getpid: 'EPERM', 'socket-inet': 'ok' });
  });

  test('real work still runs under the baseline: python, a pipeline, threads, tmpfs I/O', async () => {
    const r = await runInvocation(
      asNobody(tool('action = "kill"')),
      { script: `python3 -I -c 'import threading; t = threading.Thread(target=print, args=("thread",)); t.start(); t.join()'; seq 1 1000 | sort -rn | head -n 2; echo data > /tmp/f && cat /tmp/f` },
      { logger: silentLogger },
    );
    assert.equal(r.stdout, 'thread\n1000\n999\ndata\n');
    assert.equal(r.exitCode, 0, r.stderr);
  });

  test('unknown syscall names fail the load, naming the key', () => {
    const settings = { action: 'errno' as const, allow: ['ptrace', 'no_such_call'], deny: [] };
    assert.throws(
      () => compileSeccomp(planSeccomp(settings), settings),
      (e: unknown) => e instanceof SeccompPolicyError && e.key === 'seccomp.allow[1]' && e.message === 'unknown syscall "no_such_call"',
    );
    const deny = { action: 'errno' as const, allow: [], deny: ['getpid', 'bogus_call'] };
    assert.throws(
      () => compileSeccomp(planSeccomp(deny), deny),
      (e: unknown) => e instanceof SeccompPolicyError && e.key === 'seccomp.deny' && e.message === 'unknown syscall "bogus_call"',
    );
  });

  test('a reported syscall is named in its own ABI: an i386 or x32 call (which the filter kills) is not taken for the native call of that number', () => {
    // Numbers as the kernel's audit records give them: i386 getpid is 20 (x86_64's 20 is writev),
    // an x32 call is x86_64's number with bit 30 set.
    assert.deepEqual(
      [syscallName(39), syscallName(39, 0xc000003e), syscallName(20, 0x40000003), syscallName(0x40000027, 0xc000003e), syscallName(999999, 0xc000003e)],
      ['getpid', 'getpid', 'i386:getpid', 'x32:getpid', '#999999'],
    );
  });
});
