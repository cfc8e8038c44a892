// pty = true: the tool runs on a terminal that exists only inside its sandbox (pty-exec on the
// sandbox's own devpts); output comes back as plain text; no terminal outside is reachable.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { asNobody, profileFrom, realKernelSkipReason, shellProfile, shellProfileToml, silentLogger } from '../helpers/fixtures.js';

const skip = realKernelSkipReason();
const ptyShell = () => profileFrom('ptyshell', shellProfileToml('shell on a terminal', 'timeout = "10s"', 'pty = true'));
const run = (profile: ReturnType<typeof ptyShell>, script: string) => runInvocation(asNobody(profile), { script }, { logger: silentLogger });

describe('pty tools (real bwrap)', { skip }, () => {
  test('the tool sees a terminal of its own, and its output comes back as plain text', async () => {
    const r = await run(ptyShell(), 'tty; test -t 1 && echo "stdout is a terminal"; printf "\\033[1;31mred\\033[0m\\r\\n"; stty size');
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, '/dev/pts/0\nstdout is a terminal\nred\n24 80\n');
    assert.equal(r.stderr, '');
  });

  test('the exit status comes through the terminal helper', async () => {
    const r = await run(ptyShell(), 'echo bye; exit 5');
    assert.deepEqual([r.stdout, r.exitCode, r.reason], ['bye\n', 5, null]);
  });

  test('the only terminal in the sandbox is its own', async () => {
    const r = await run(ptyShell(), 'ls -1 /dev/pts; ls /dev | grep -c "^tty[0-9S]"');
    assert.equal(r.stdout, '0\nptmx\n0\n');
  });

  test('TIOCSTI reaches at most the tool\'s own terminal; without pty there is no terminal at all', async () => {
    const inject = `python3 -I -c 'import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("injected into own pty")'`;
    const own = await run(ptyShell(), `${inject} 2>&1 | tail -n 1`);
    // Kernels with dev.tty.legacy_tiocsti=0 refuse it outright; others let it into the tool's own
    // pty, where the terminal echoes the injected "x" back to the tool's own output, and nowhere else.
    assert.match(own.stdout, /^(xinjected into own pty|PermissionError: \[Errno 1\] Operation not permitted)\n$/);
    const plain = await run(shellProfile(), 'exec 3</dev/tty');
    assert.equal(plain.exitCode, 1);
    assert.match(plain.stderr, /\/dev\/tty: No such device or address/);
  });
});
