// The benchmark is not a test (timings are noisy); this runs it tiny so that it cannot rot.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_NODE_OPTIONS } from '../../src/server/daemon-runtime.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { labSkipReason } from '../helpers/test-network.js';
import { ROOT } from '../helpers/paths.js';

test('npm run bench runs end to end (4 calls at concurrency 1, 3 in every other row, one row with gaps) and leaves nothing behind', { skip: realKernelSkipReason() ?? labSkipReason(), timeout: 180_000 }, () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/test/bench/bench.js'), '--calls', '3', '--calls-at-1', '4', '--levels', '1,2', '--gap', '20', '--leak', '6', '--node-option=--no-optimize-for-size', '--env', 'MALLOC_TRIM_THRESHOLD_=131072'], { encoding: 'utf8', timeout: 170_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^toolcell bench: 4 calls at concurrency 1, 3 in every other row, v\d+\.\d+\.\d+, .+ x\d+$/m, r.stdout);
  // What the daemon's own process says it was started with: the options for an A/B reached it.
  assert.match(r.stdout, new RegExp(`^daemon: node ${DAEMON_NODE_OPTIONS.join(' ')} --no-optimize-for-size, MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=131072$`, 'm'), r.stdout);
  assert.match(r.stdout, /^machine: kernel \S+, cgroup v[12]; \/bin\/true started [\d.]+ times a second one at a time, [\d.]+ with \d+ at once \([\d.]+x\)$/m, r.stdout);
  assert.match(r.stdout, /^\| case \| concurrency \| p50 ms \| p99 ms \| p50 \/ floor \| p99 \/ floor p50 \| calls\/s \| calls\/s \/ floor \| CPU ms per call \| errors \| daemon peak RSS MiB \|$/m);
  // The floor at each concurrency, without an error, and one at a time with the gap (no calls/s).
  assert.equal(r.stdout.match(/^\| floor \| (1|2) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| -?[\d.]+ \| 0 \|$/gm)?.length, 2, r.stdout);
  assert.equal(r.stdout.match(/^\| floor \| 1, 20 ms apart \| [\d.]+ \| [\d.]+ \| - \| -?[\d.]+ \| 0 \|$/gm)?.length, 1, r.stdout);
  assert.equal(r.stdout.match(/^\| \((a|b)\) [^|]+ \| (1|2) \| .* \| 0 \| [\d.]+ \|$/gm)?.length, 4, r.stdout);
  assert.equal(r.stdout.match(/^\| \((a|b)\) [^|]+ \| 1, 20 ms apart \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \| - \| - \| .* \| 0 \| [\d.]+ \|$/gm)?.length, 2, r.stdout);
  assert.match(r.stdout, /^leak check: 6 calls at concurrency 16, 0 errors/m);
  // The RSS after each part (here each call), and its trend once the heap has warmed up.
  assert.match(r.stdout, /^ {2}daemon RSS after each 1 calls \(MiB\): (?:[\d.]+ ){5}[\d.]+; over the second half [+-][\d.]+ MiB per 1000 calls$/m, r.stdout);
  // The live heap after full collections (the bench's heap probe in the daemon), before and after each part.
  assert.match(r.stdout, /^ {2}daemon live heap after full GCs \(MiB\): [\d.]+ before, then (?:[\d.]+ ){5}[\d.]+; over the second half [+-][\d.]+ KiB per 1000 calls$/m, r.stdout);
  assert.match(r.stdout, /^left behind: 0 veth, 0 host tables, 0 processes of the tool user \(and \d+ exited ones the host.s init has not reaped yet\)$/m);
  // The verdict on each target, from the rows of this run (levels 1 and 2: none at 16).
  assert.match(r.stdout, /^targets \(ratios to the floor in this run\):\n {2}\(a\) p50 at concurrency 1: [\d.]+x the floor's \(at most 1\.2x\): (met|NOT met)\n {2}\(a\) p99 at concurrency 1: [\d.]+x the floor's p50 \(at most 3x\): (met|NOT met)\n {2}\(b\) p50 at concurrency 1: [\d.]+x the floor's \(at most 2x\): (met|NOT met)\n {2}\(a\) calls\/s at concurrency 16: not measured \(no level 16\)\n {2}errors over all rows: 0 \(none\): met\n {2}daemon peak RSS: [\d.]+ MiB \(at most 100\): (met|NOT met)\n {2}leak check, live heap over the second half: [+-][\d.]+ KiB per 1000 calls \(under 50: no growth trend\): (met|NOT met)$/m, r.stdout);
});

test('the steps benchmark runs each step (3 calls) without an error', { skip: realKernelSkipReason(), timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/test/bench/steps.js'), '--calls', '3', '--rounds', '1'], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.match(/^\| \d\. .* \| [\d.]+ \| [\d.]+ \| -?[\d.]+ \| -?[\d.]+ \| 0 \|$/gm)?.length, 4, r.stdout);
});

test('a wrong option ends either benchmark at once with status 2, naming the option and the usage', () => {
  for (const [script, args, message] of [
    ['bench', ['--calls', 'abc'], 'bench: --calls "abc": expected a whole number of at least 1'],
    ['bench', ['--levles', '1'], "bench: Unknown option '--levles'"],
    ['steps', ['--rounds', '0'], 'steps: --rounds "0": expected a whole number of at least 1'],
  ] as const) {
    const r = spawnSync(process.execPath, [join(ROOT, `dist/test/bench/${script}.js`), ...args], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    const [first = '', usage = '', ...rest] = r.stderr.split('\n');
    assert.ok(first.startsWith(message), r.stderr);
    assert.ok(usage.startsWith(`usage: node dist/test/bench/${script}.js [--calls N]`), r.stderr);
    assert.deepEqual(rest, ['']);
  }
});
