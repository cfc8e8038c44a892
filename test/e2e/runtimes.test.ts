// The end-to-end core again on Node 22 and 24 (the runtimes the service is supported on; the main
// run uses the machine's node): a nested `node --test` on each runtime, so that the test process,
// the daemon it starts (process.execPath) and `toolcell connect` all run on that Node. The files
// chosen prove daemon + real MCP client over the socket, directly and through the bridge, the raw
// protocol faults, and the native bindings (koffi: seccomp, peer credentials; doctor).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SLOWDOWN, waitForExit } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { EXTRA_RUNTIMES, runtimeSkipReason, runtimeVersion } from '../helpers/node-runtimes.js';
import { ROOT } from '../helpers/paths.js';

const CORE_E2E = ['tools', 'protocol', 'bridge', 'doctor'].map((f) => join(ROOT, 'dist/test/e2e', `${f}.test.js`));
const TIMEOUT_MS = 180_000 * SLOWDOWN;

describe('e2e core on the other supported Node.js runtimes', { skip: realKernelSkipReason() }, () => {
  for (const rt of EXTRA_RUNTIMES) {
    test(`Node ${rt.major}: daemon, SDK client, bridge and protocol faults (${CORE_E2E.length} files)`, { timeout: TIMEOUT_MS + 10_000 }, async (t) => {
      if (process.versions.node.startsWith(`${rt.major}.`)) return t.skip(`the main run is on Node ${rt.major} already (${process.execPath})`);
      const why = runtimeSkipReason(rt);
      if (why) return t.skip(why);
      t.diagnostic(`${rt.bin} ${runtimeVersion(rt)}`);
      // One file at a time: this runs beside the rest of the suite on a 2-core machine. Without
      // NODE_TEST_CONTEXT, which tells a node started by the test runner not to run files itself.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const child = spawn(rt.bin, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...CORE_E2E], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      const exit = await waitForExit(child, TIMEOUT_MS);
      const pass = Number(/ℹ pass (\d+)/.exec(out)?.[1] ?? 0);
      const fail = Number(/ℹ fail (\d+)/.exec(out)?.[1] ?? -1);
      const skipped = Number(/ℹ skipped (\d+)/.exec(out)?.[1] ?? -1);
      t.diagnostic(`pass ${pass}, fail ${fail}, skipped ${skipped}`);
      assert.equal(exit.timedOut, false, `timed out after ${TIMEOUT_MS} ms\n${out.slice(-4000)}`);
      assert.equal(exit.code, 0, out.slice(-6000));
      assert.equal(fail, 0, out.slice(-6000));
      assert.equal(skipped, 0, `a core e2e test skipped on Node ${rt.major}:\n${out.slice(-4000)}`);
      assert.ok(pass >= 20, `only ${pass} tests ran:\n${out.slice(-4000)}`);
    });
  }
});
