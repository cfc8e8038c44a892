// Interoperability with a client nobody on this project wrote: the MCP Inspector's CLI
// (@modelcontextprotocol/inspector, --cli mode, on Node 22 as it requires) launches
// `toolcell connect` as its stdio server, as an MCP host would, and lists and calls the tools.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, removeDir, SLOWDOWN, startDaemon, waitForExit, type Daemon } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { runtime, runtimeSkipReason } from '../helpers/node-runtimes.js';
import { BIN, PROFILES, ROOT } from '../helpers/paths.js';

const NODE22 = runtime(22);
// The launcher's own entry (the package's `mcp-inspector` bin), run with node22 directly: npx
// would run it on the machine's node.
const INSPECTOR = join(ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const skip =
  realKernelSkipReason() ??
  runtimeSkipReason(NODE22) ??
  (existsSync(INSPECTOR) ? undefined : `the MCP Inspector is not installed (${INSPECTOR} missing; npm ci installs the devDependency)`);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('interop: MCP Inspector CLI through toolcell connect', { skip }, () => {
  let daemon: Daemon | undefined;
  let home: string | undefined;

  /** mcp-inspector --cli OPTIONS -- node bin/toolcell.js connect --socket S (bounded). */
  async function inspector(...options: string[]): Promise<Run> {
    const bridge = [process.execPath, BIN, 'connect', '--socket', daemon!.socket];
    // A throw-away HOME: the Inspector keeps a catalog and secrets under ~/.mcp-inspector.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home!, LANG: 'C.UTF-8' };
    const child = spawn(NODE22.bin, [INSPECTOR, '--cli', ...options, '--format', 'json', '--', ...bridge], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exit = await waitForExit(child, 60_000 * SLOWDOWN);
    assert.equal(exit.timedOut, false, `the Inspector did not finish: ${stderr}`);
    return { code: exit.code, stdout, stderr };
  }

  before(async () => {
    home = makeTempDir('tc-inspector-home-');
    daemon = await startDaemon({ tools: PROFILES });
  });
  after(async () => {
    await daemon?.stop();
    removeDir(home);
  });

  test('tools/list: the bundled tools with their input schemas; --strict finds no portability error', async () => {
    const r = await inspector('--method', 'tools/list', '--strict');
    assert.equal(r.code, 0, r.stderr);
    const { result } = JSON.parse(r.stdout) as { result: { tools: { name: string; inputSchema: { type: string; required?: string[] } }[] } };
    assert.deepEqual(result.tools.map((t) => t.name).sort(), ['python', 'search', 'shell']);
    assert.deepEqual(result.tools.find((t) => t.name === 'python')?.inputSchema.required, ['code']);
  });

  test('tools/call python {"code": "print(6*7)"} returns 42', async () => {
    const r = await inspector('--method', 'tools/call', '--tool-name', 'python', '--tool-arg', 'code=print(6*7)');
    assert.equal(r.code, 0, r.stderr);
    const { result } = JSON.parse(r.stdout) as { result: { content: { type: string; text: string }[]; structuredContent: { stdout: string; exitCode: number }; isError: boolean } };
    assert.deepEqual(result.content, [{ type: 'text', text: '42\n' }]);
    assert.equal(result.structuredContent.exitCode, 0);
    assert.equal(result.isError, false);
  });

  test('a tool failure is a result with isError (the Inspector exits 5), not the host file', async () => {
    const r = await inspector('--method', 'tools/call', '--tool-name', 'shell', '--tool-arg', 'script=cat /etc/shadow');
    assert.equal(r.code, 5, r.stderr);
    const { result } = JSON.parse(r.stdout) as { result: { structuredContent: { stderr: string }; isError: boolean } };
    assert.equal(result.isError, true);
    assert.equal(result.structuredContent.stderr, 'cat: /etc/shadow: No such file or directory\n');
  });

  test('a call without its required argument is refused by toolcell, with its message once', async () => {
    const r = await inspector('--method', 'tools/call', '--tool-name', 'python');
    assert.equal(r.code, 1);
    // The Inspector shows the error's message, not its JSON-RPC code (-32602 is asserted with the
    // SDK client in arguments.test); the message comes through as toolcell wrote it.
    assert.equal(r.stderr, `${JSON.stringify({ error: { code: 'error', message: "Invalid arguments for tool python: arguments: must have required property 'code'" } })}\n`);
  });
});
