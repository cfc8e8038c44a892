// Nothing of the daemon reaches a tool: not its environment, not a descriptor it inherited.
// The daemon gets a sentinel variable and five extra inherited pipes (fds 3-7; the sandbox spawn
// reuses 3 and 4 for bwrap's control pipes, so 5-7 are the ones that would leak).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { closeQuietly, connectClient, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';

const skip = realKernelSkipReason();
const SENTINEL = 's3cr3t-sentinel';

const SCRIPT = [
  'echo "## env"; env',
  // The sandbox's pid 1 is the tool itself: the environment it started with, and its argv.
  'echo "## pid"; echo $$',
  'echo "## environ"; cat /proc/1/environ | tr \'\\0\' \'\\n\'',
  'echo "## cmdline"; tr \'\\0\' \' \' < /proc/1/cmdline; echo',
  // The tool's own descriptors (bash, pid $$), listed from outside by ls.
  'echo "## bash-fds"; ls -l /proc/$$/fd',
  // ls's own descriptors: 0-2 plus the directory it is listing.
  'echo "## ls-fds"; ls -l /proc/self/fd',
  'echo "## loop"; for f in /proc/self/fd/*; do echo "$f -> $(readlink $f)"; done',
  'echo "## end"',
].join('\n');

/** Splits "## name" sections of the output into name → lines. */
function sections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^## (\S+)$/.exec(line);
    if (m) out.set(m[1]!, (current = []));
    else if (line !== '') current.push(line);
  }
  return out;
}

/** fd number → link target, from `ls -l` lines ("... 3 -> /proc/9/fd"). */
function fdTargets(lines: readonly string[]): Map<number, string> {
  const fds = new Map<number, string>();
  for (const line of lines) {
    const m = / (\d+) -> (.*)$/.exec(line);
    if (m) fds.set(Number(m[1]), m[2]!);
  }
  return fds;
}

describe('e2e: the daemon environment never reaches a tool', { skip }, () => {
  let daemon: Daemon | undefined;
  let conn: DirectClient | undefined;

  before(async () => {
    daemon = await startDaemon({ tools: PROFILES, env: { TOOLCELL_TEST_SENTINEL: SENTINEL }, extraFds: 5 });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
  });

  test('the daemon really holds the sentinel and the inherited pipes (the test means something)', () => {
    const environ = readFileSync(`/proc/${daemon!.pid}/environ`, 'latin1').split('\0');
    assert.ok(environ.includes(`TOOLCELL_TEST_SENTINEL=${SENTINEL}`));
    for (const fd of [5, 6, 7]) assert.match(readlinkSync(`/proc/${daemon!.pid}/fd/${fd}`), /^(pipe|socket):\[\d+\]$/, `daemon fd ${fd}`);
  });

  test('env, /proc/1/environ and every descriptor inside the sandbox are clean', async () => {
    const r = (await conn!.client.callTool({ name: 'shell', arguments: { script: SCRIPT } })) as CallToolResult;
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(s.exitCode, 0, String(s.stderr));
    assert.equal(s.stderr, '');
    const text = (r.content[0] as { text: string }).text;
    assert.ok(!text.includes(SENTINEL), 'no sentinel in the output');
    assert.ok(!text.includes('TOOLCELL'), 'no TOOLCELL_ variable in the output');

    const sec = sections(s.stdout as string);
    assert.deepEqual(sec.get('end'), []);
    // The environment is exactly the profile's minimal one (bash adds PWD, SHLVL and _).
    const env = sec.get('env')!;
    assert.deepEqual(env.map((l) => l.split('=')[0]).sort(), ['HOME', 'LANG', 'PATH', 'PWD', 'SHLVL', '_']);
    assert.ok(env.includes('PATH=/usr/local/bin:/usr/bin:/bin'));
    assert.ok(env.includes('HOME=/work'));
    assert.ok(env.includes('LANG=C.UTF-8'));
    // bash is pid 1 (no init of bwrap's inside); the environment it started with is the profile's
    // and bwrap's PWD, nothing else.
    assert.deepEqual(sec.get('pid'), ['1']);
    assert.deepEqual(sec.get('environ')!.map((l) => l.split('=')[0]).sort(), ['HOME', 'LANG', 'PATH', 'PWD']);
    assert.ok(!sec.get('cmdline')!.join('\n').includes(SENTINEL));

    // The tool holds exactly stdin, stdout and stderr.
    const bashFds = fdTargets(sec.get('bash-fds')!);
    assert.deepEqual([...bashFds.keys()].sort((a, b) => a - b), [0, 1, 2], `bash fds: ${JSON.stringify([...bashFds])}`);
    assert.equal(bashFds.get(0), '/dev/null');

    // ls holds 0-2 plus the /proc directory it reads, nothing else.
    const lsFds = fdTargets(sec.get('ls-fds')!);
    assert.deepEqual([...lsFds.keys()].filter((fd) => fd <= 2).sort(), [0, 1, 2]);
    for (const [fd, target] of lsFds) {
      if (fd > 2) assert.match(target, /^\/proc\//, `ls fd ${fd} -> ${target}`);
    }

    // The loop of the brief: beyond 0-2 no pipe: or socket: descriptor anywhere.
    for (const line of sec.get('loop')!) {
      const m = /^\/proc\/self\/fd\/(\d+) -> (.*)$/.exec(line);
      assert.ok(m, `loop line: ${line}`);
      if (Number(m[1]) > 2) assert.doesNotMatch(m[2]!, /^(pipe|socket|anon_inode):/, line);
    }
  });
});
