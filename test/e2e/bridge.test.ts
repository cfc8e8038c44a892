// The stdio bridge MCP hosts launch: `toolcell connect` relays the SDK client's stdio to the socket.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { closeQuietly, connectBridge, makeTempDir, removeDir, runCli, startDaemon, type BridgedClient, type Daemon } from '../helpers/daemon.js';

const skip = realKernelSkipReason();

describe('e2e: toolcell connect (stdio bridge)', { skip }, () => {
  let daemon: Daemon | undefined;
  let bridge: BridgedClient | undefined;

  before(async () => {
    daemon = await startDaemon({ tools: PROFILES });
    bridge = await connectBridge(daemon.socket);
  });
  after(async () => {
    await closeQuietly(bridge?.client);
    await daemon?.stop();
  });

  test('tools/list through the bridge gives python, search and shell', async () => {
    const { tools } = await bridge!.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['python', 'search', 'shell']);
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object');
      assert.equal((t.inputSchema as Record<string, unknown>).additionalProperties, false);
      assert.equal(t.inputSchema.required?.length, 1);
    }
  });

  test('python through the bridge returns "42\\n"', async () => {
    const r = (await bridge!.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
    assert.equal(r.isError, false);
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(s.exitCode, 0);
    assert.equal(s.reason, null);
  });

  test('a refused argument comes back through the bridge as InvalidParams', async () => {
    await assert.rejects(bridge!.client.callTool({ name: 'python', arguments: {} }), (e: unknown) => {
      assert.ok(e instanceof McpError);
      assert.equal(e.code, ErrorCode.InvalidParams);
      assert.match(e.message, /Invalid arguments for tool python: arguments: must have required property 'code'$/);
      return true;
    });
  });

  test('the bridge writes nothing on stderr while it works', () => {
    assert.equal(bridge!.stderr(), '');
  });
});

describe('e2e: toolcell connect without a daemon', () => {
  let dir: string | undefined;
  after(() => removeDir(dir));

  test('exits 1 and names the socket on stderr', async () => {
    dir = makeTempDir();
    const socket = join(dir, 'nonexistent.sock');
    const r = await runCli(['connect', '--socket', socket]);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(socket), `stderr names ${socket}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `toolcell connect: no toolcell daemon answers on ${socket} (ENOENT); start it with "toolcell serve" or "systemctl start toolcell"\n`,
    );
  });

  test('exits 1 for /tmp/nonexistent.sock', async () => {
    const r = await runCli(['connect', '--socket', '/tmp/nonexistent.sock']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^toolcell connect: no toolcell daemon answers on \/tmp\/nonexistent\.sock \(ENOENT\)/);
  });
});
