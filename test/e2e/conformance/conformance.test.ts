// Interoperability with the MCP conformance suite (@modelcontextprotocol/conformance, on Node 22):
// its server scenarios run against toolcell through a test-only Streamable HTTP front on
// 127.0.0.1 (test/helpers/http-front.ts), which relays to a real daemon's socket. The scenarios that
// apply to a tool server must pass; the others are listed with the reason they do not apply, and a
// scenario the suite adds later fails this test until someone decides which it is.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, makeToolsDir, removeDir, SLOWDOWN, startDaemon, waitForExit, type Daemon } from '../../helpers/daemon.js';
import { createUsers, realKernelSkipReason } from '../../helpers/fixtures.js';
import { startHttpFront, type HttpFront } from '../../helpers/http-front.js';
import { runtime, runtimeSkipReason } from '../../helpers/node-runtimes.js';
import { ROOT } from '../../helpers/paths.js';
import { CONFORMANCE_TOOLS, CONFORMANCE_USERS } from './profiles.js';

const CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const NODE22 = runtime(22);
const skip =
  realKernelSkipReason() ??
  runtimeSkipReason(NODE22) ??
  (existsSync(CLI) ? undefined : `the MCP conformance suite is not installed (${CLI} missing; npm ci installs the devDependency)`);

/** Scenarios that test what a tool server does: toolcell must pass every check of each. */
const APPLIES = ['server-initialize', 'ping', 'tools-list', 'tools-call-simple-text', 'tools-call-error', 'tools-call-with-progress'];

const NO_CAPABILITY = 'toolcell serves tools only; it declares no such capability and answers Method not found';
const FIXED_CONTENT = 'needs a tool whose result is not a program\'s output: toolcell returns what the sandboxed program printed, as text';
const SERVER_REQUEST = 'needs a tool that sends requests to the client in the middle of a call; a sandboxed program cannot';
const HTTP_FRONT = 'tests the HTTP transport, which toolcell does not serve (it passes here, but what it judges is the test\'s HTTP front)';

/** Scenarios that do not apply to toolcell, and why (README, "Interoperability"). */
const DOES_NOT_APPLY: Readonly<Record<string, string>> = {
  'logging-set-level': NO_CAPABILITY,
  'completion-complete': NO_CAPABILITY,
  'tools-call-with-logging': `${NO_CAPABILITY} (logging)`,
  'tools-call-image': FIXED_CONTENT,
  'tools-call-audio': FIXED_CONTENT,
  'tools-call-embedded-resource': FIXED_CONTENT,
  'tools-call-mixed-content': FIXED_CONTENT,
  'tools-call-sampling': SERVER_REQUEST,
  'tools-call-elicitation': SERVER_REQUEST,
  'elicitation-sep1034-defaults': SERVER_REQUEST,
  'elicitation-sep1330-enums': SERVER_REQUEST,
  'server-sse-multiple-streams': HTTP_FRONT,
  'dns-rebinding-protection': HTTP_FRONT,
  ...Object.fromEntries(
    ['resources-list', 'resources-read-text', 'resources-read-binary', 'resources-templates-read', 'resources-subscribe', 'resources-unsubscribe'].map((s) => [s, `${NO_CAPABILITY} (resources)`]),
  ),
  ...Object.fromEntries(['prompts-list', 'prompts-get-simple', 'prompts-get-with-args', 'prompts-get-embedded-resource', 'prompts-get-with-image'].map((s) => [s, `${NO_CAPABILITY} (prompts)`])),
};

interface Check {
  readonly id: string;
  readonly status: string;
  readonly errorMessage?: string;
}

describe('interop: MCP conformance suite, server scenarios, through a Streamable HTTP front', { skip }, () => {
  let daemon: Daemon | undefined;
  let front: HttpFront | undefined;
  let tools: string | undefined;
  let out: string | undefined;
  let removeUsers: (() => Promise<void>) | undefined;
  /** scenario → its checks, from the suite's result files. */
  const results = new Map<string, Check[]>();
  let log = '';

  before(async () => {
    removeUsers = await createUsers(CONFORMANCE_USERS);
    tools = makeToolsDir(CONFORMANCE_TOOLS, false);
    // The suite's client opens one session per scenario and never ends it (no DELETE), and every
    // session is a connection of root here: more than the default 16 per caller.
    daemon = await startDaemon({ tools, configToml: 'max_connections_per_caller = 64\n' });
    front = await startHttpFront(daemon.socket);
    out = makeTempDir('tc-conformance-');
    const child = spawn(NODE22.bin, [CLI, 'server', '--url', front.url, '--suite', 'active', '--output-dir', out], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: out, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (c: string) => (log += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (log += c));
    const exit = await waitForExit(child, 180_000 * SLOWDOWN);
    assert.equal(exit.timedOut, false, `the conformance suite did not finish:\n${log.slice(-4000)}`);
    for (const dir of readdirSync(out)) {
      const scenario = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir)?.[1];
      if (scenario) results.set(scenario, JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as Check[]);
    }
  });
  after(async () => {
    await front?.close();
    await daemon?.stop();
    removeDir(tools);
    removeDir(out);
    await removeUsers?.();
  });

  for (const scenario of APPLIES) {
    test(`${scenario} passes`, () => {
      const checks = results.get(scenario);
      assert.ok(checks, `the suite did not run ${scenario}:\n${log.slice(-3000)}`);
      assert.ok(checks.length > 0);
      for (const c of checks) assert.equal(c.status, 'SUCCESS', `${c.id}: ${c.errorMessage ?? ''}`);
    });
  }

  test('every other scenario the suite ran is one that does not apply, for a stated reason', (t) => {
    const unknown = [...results.keys()].filter((s) => !APPLIES.includes(s) && !(s in DOES_NOT_APPLY));
    assert.deepEqual(unknown, [], 'new scenarios in the conformance suite: add each to APPLIES or DOES_NOT_APPLY');
    for (const [s, checks] of results) {
      if (s in DOES_NOT_APPLY) t.diagnostic(`${s}: ${checks.every((c) => c.status === 'SUCCESS') ? 'passes' : 'fails'}; does not apply: ${DOES_NOT_APPLY[s]}`);
    }
    assert.ok(results.size >= APPLIES.length);
  });
});
