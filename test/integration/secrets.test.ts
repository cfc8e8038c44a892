// Secrets: root-only files, read per call, given to one tool's sandbox only, on no command line,
// masked in what comes back and absent from the logs.
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { CUT_MARK } from '../../src/invocation/mask-secrets.js';
import { InvocationSetupError, runInvocation } from '../../src/invocation/run-invocation.js';
import { loadTools } from '../../src/profile/load-tools.js';
import { describeProfileError } from '../../src/profile/profile.js';
import { asNobody, profileFrom, realKernelSkipReason, scriptToolToml, silentLogger } from '../helpers/fixtures.js';
import { pidsWithMarker, uniqueMarker, waitForMarker } from '../helpers/processes.js';

const skip = realKernelSkipReason();
const VALUE = `tc-secret-${uniqueMarker(42)}`;

function tool(secrets: string, readOnly: string[] = [], user = 'nobody'): string {
  return scriptToolToml({ description: 'secret test', user, readOnly, limits: 'timeout = "10s"', sections: `[secrets]\n${secrets}` });
}

describe('secrets (real bwrap)', { skip }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync('/tmp/tc-secrets-');
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'token'), `${VALUE}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'open'), 'x\n', { mode: 0o644 });
    chmodSync(join(dir, 'open'), 0o644);
    writeFileSync(join(dir, 'notroot'), 'x\n', { mode: 0o600 });
    chownSync(join(dir, 'notroot'), 65534, 65534);
    symlinkSync(join(dir, 'token'), join(dir, 'link'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (toml: string, script: string, logger = silentLogger, signal?: AbortSignal) =>
    runInvocation(asNobody(profileFrom('sec', toml)), { script }, { logger, signal });

  test('an env secret reaches the tool, and comes back masked', async () => {
    const r = await run(tool(`TOKEN = "${dir}/token"`), 'echo "$TOKEN"; echo "${#TOKEN}"; echo "$TOKEN" >&2; exit 3');
    assert.equal(r.stdout, `[secret:TOKEN]\n${VALUE.length}\n`);
    assert.equal(r.stderr, '[secret:TOKEN]\n');
  });

  test('the tool holds stdin, stdout and stderr only: no descriptor bwrap passed on (a secret without network leaves a gap at 6)', async () => {
    // ls's own descriptor on the directory it lists is 3.
    const r = await run(tool(`TOKEN = "${dir}/token"`), 'ls /proc/self/fd');
    assert.equal(r.stdout, '0\n1\n2\n3\n');
    // Where the profile's filter refuses close_range, sandbox-exec closes what /proc/self/fd lists.
    const sections = `[secrets]\nTOKEN = "${dir}/token"\n[seccomp]\ndeny = ["close_range"]`;
    const denied = await run(scriptToolToml({ description: 'secret test', user: 'nobody', limits: 'timeout = "10s"', sections }), 'ls /proc/self/fd');
    assert.deepEqual([denied.stdout, denied.exitCode], ['0\n1\n2\n3\n', 0]);
  });

  test('output the cap cuts inside the secret comes back without its end: the start of the secret is not in it', async () => {
    // 1,019 bytes of padding, then the secret: the 1,024-byte cap keeps its first 5 characters.
    const r = await run(tool(`TOKEN = "${dir}/token"`).replace('timeout = "10s"', 'timeout = "10s"\noutput = 1024'), 'head -c 1019 /dev/zero | tr "\\0" x; echo "$TOKEN"');
    assert.equal(r.stdoutTruncated, true);
    // As many characters as the secret has go from the end, whatever they are.
    assert.equal(r.stdout, `${'x'.repeat(1024 - VALUE.length)}${CUT_MARK}`);
  });

  test("the value is on no command line and in no environment but the tool's", async () => {
    // The pattern comes from the environment at run time, so the script text does not contain it.
    // The tool is the sandbox's only process (pid 1; the glob expands before grep forks).
    const r = await run(
      tool(`TOKEN = "${dir}/token"`),
      'echo /proc/[0-9]*; for f in /proc/[0-9]*/cmdline; do grep -c -F -e "$TOKEN" "$f"; done; grep -c -F -e "$TOKEN" /proc/self/environ',
    );
    assert.equal(r.stdout, '/proc/1\n0\n1\n');
  });

  test('on the host, no process shows the value on its command line while the sandbox runs', async () => {
    const marker = uniqueMarker(9005);
    const ac = new AbortController();
    const running = run(tool(`TOKEN = "${dir}/token"`), `sleep ${marker}`, silentLogger, ac.signal);
    try {
      assert.equal(await waitForMarker(`sleep ${marker}`), true);
      assert.deepEqual(pidsWithMarker(VALUE), []);
    } finally {
      ac.abort();
      await running;
    }
  });

  test('a file secret is /run/secrets/NAME, mode 0400, owned by the tool', async () => {
    const r = await run(tool(`TOKEN = { file = "${dir}/token", as = "file" }`), 'stat -c "%a %u" /run/secrets/TOKEN; wc -c < /run/secrets/TOKEN; echo "${TOKEN-unset}"');
    assert.equal(r.stdout, `400 65534\n${VALUE.length}\nunset\n`);
  });

  test('the value never appears in the log lines', async () => {
    let logged = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logged += String(chunk);
        cb();
      },
    });
    const r = await run(tool(`TOKEN = "${dir}/token"`), 'echo "$TOKEN"; exit 1', pino({ level: 'trace' }, sink));
    assert.equal(r.stdout, '[secret:TOKEN]\n');
    assert.match(logged, /"msg":"invocation"/);
    assert.ok(!logged.includes(VALUE));
  });

  test('another tool cannot read the secret file, even when its directory is bound in', async () => {
    const r = await runInvocation(
      asNobody(profileFrom('other', tool('', [`${dir}:/secrets`]))),
      { script: 'cat /secrets/token' },
      { logger: silentLogger },
    );
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'cat: /secrets/token: Permission denied\n');
  });

  test('unsafe secret files are refused at load with the reason', async (t) => {
    const tools = mkdtempSync('/tmp/tc-secrets-tools-');
    t.after(() => rmSync(tools, { recursive: true, force: true }));
    writeFileSync(join(tools, 'a.toml'), tool(`OPEN = "${dir}/open"`));
    writeFileSync(join(tools, 'b.toml'), tool(`NOTROOT = "${dir}/notroot"`, [], 'daemon'));
    writeFileSync(join(tools, 'c.toml'), tool(`LINK = "${dir}/link"`, [], 'bin'));
    writeFileSync(join(tools, 'd.toml'), tool(`GONE = "${dir}/gone"`, [], 'sys'));
    const { tools: served, errors } = await loadTools(tools, 'toolcell');
    assert.equal(served.size, 0);
    assert.deepEqual(errors.map(describeProfileError), [
      `${tools}/a.toml:16: secrets.OPEN: ${dir}/open is accessible to group or others (mode 0644); make it 0600 or 0400, owned by root`,
      `${tools}/b.toml:16: secrets.NOTROOT: ${dir}/notroot is owned by uid 65534, not root`,
      `${tools}/c.toml:16: secrets.LINK: ${dir}/link is a symlink (refused)`,
      `${tools}/d.toml:16: secrets.GONE: ${dir}/gone: cannot open (ENOENT)`,
    ]);
  });

  test('a secret file made unsafe after load fails the call without running it', async () => {
    const unsafe = join(dir, 'later');
    writeFileSync(unsafe, 'x\n', { mode: 0o600 });
    chmodSync(unsafe, 0o640);
    await assert.rejects(
      run(tool(`LATER = "${unsafe}"`), 'echo ran'),
      (e: unknown) => e instanceof InvocationSetupError && e.message === "secret LATER is not usable; the daemon's log says why",
    );
  });
});
