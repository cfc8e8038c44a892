// Protocol faults on the raw socket: every hostile line gets a JSON-RPC error back, the connection
// goes on, and the daemon keeps serving everyone else. The daemon runs with max_message_bytes = 64K.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { closeQuietly, connectClient, RawConnection, startDaemon, type Daemon } from '../helpers/daemon.js';

const skip = realKernelSkipReason();
const CAP = 64 * 1024;

describe('e2e: raw socket protocol faults', { skip }, () => {
  let daemon: Daemon | undefined;
  const opened: RawConnection[] = [];
  const open = async () => {
    const c = await RawConnection.open(daemon!.socket);
    opened.push(c);
    return c;
  };

  before(async () => {
    daemon = await startDaemon({ tools: PROFILES, configToml: 'max_message_bytes = "64K"\nlog_level = "warn"\n' });
  });
  after(async () => {
    for (const c of opened) c.close();
    await daemon?.stop();
  });

  test('initialize on a raw connection answers with the server info', async () => {
    const c = await open();
    const reply = await c.initialize(1);
    assert.equal(reply.jsonrpc, '2.0');
    assert.equal(reply.id, 1);
    const result = reply.result as Record<string, unknown>;
    assert.deepEqual(result.serverInfo, { name: 'toolcell', version: '0.1.0' });
    assert.deepEqual(result.capabilities, { tools: { listChanged: true } });
  });

  test('invalid JSON → -32700 parse error, and the connection goes on', async () => {
    const c = await open();
    await c.initialize();
    c.write('{"jsonrpc":"2.0","id":7,"method":\n');
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'message is not valid JSON' } });
    c.send({ jsonrpc: '2.0', id: 8, method: 'ping' });
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: 8, result: {} });
  });

  test('a line over max_message_bytes → -32600, and the same connection still answers', async () => {
    const c = await open();
    await c.initialize();
    const big = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping', params: { pad: 'x'.repeat(CAP + 1000) } });
    assert.ok(Buffer.byteLength(big) > CAP);
    c.write(`${big}\n`);
    assert.deepEqual(await c.next(), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: `message larger than ${CAP} bytes` },
    });
    // The oversized message was dropped entirely: no reply for id 9 follows, only the next request's.
    c.send({ jsonrpc: '2.0', id: 10, method: 'tools/list' });
    const reply = await c.next();
    assert.equal(reply.id, 10);
    const tools = (reply.result as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['python', 'search', 'shell']);
  });

  test('a line of exactly max_message_bytes is accepted', async () => {
    const c = await open();
    await c.initialize();
    const head = JSON.stringify({ jsonrpc: '2.0', id: 11, method: 'ping', params: { pad: '' } });
    const line = head.replace('"pad":""', `"pad":"${'y'.repeat(CAP - Buffer.byteLength(head))}"`);
    assert.equal(Buffer.byteLength(line), CAP);
    c.write(`${line}\n`);
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: 11, result: {} });
  });

  test('an oversized line sent in pieces is refused once, and the line after it is served', async () => {
    const c = await open();
    await c.initialize();
    const piece = 'z'.repeat(16 * 1024);
    c.write(`{"jsonrpc":"2.0","id":12,"method":"ping","params":{"pad":"`);
    for (let i = 0; i < 6; i++) c.write(piece);
    c.write(`"}}\n`);
    c.send({ jsonrpc: '2.0', id: 13, method: 'ping' });
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: `message larger than ${CAP} bytes` } });
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: 13, result: {} });
  });

  test('invalid UTF-8 → -32700', async () => {
    const c = await open();
    await c.initialize();
    c.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":14,"method":"ping","params":{"x":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}\n')]));
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'message is not valid UTF-8' } });
    c.send({ jsonrpc: '2.0', id: 15, method: 'ping' });
    assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: 15, result: {} });
  });

  test('JSON that is not JSON-RPC → -32600 with its id', async () => {
    const c = await open();
    await c.initialize();
    c.write('{"id":16,"hello":"world"}\n');
    assert.deepEqual(await c.next(), {
      jsonrpc: '2.0',
      id: 16,
      error: { code: -32600, message: 'message is not a JSON-RPC 2.0 request, notification or response' },
    });
  });

  test('an unknown method → -32601', async () => {
    const c = await open();
    await c.initialize();
    c.send({ jsonrpc: '2.0', id: 17, method: 'tools/explode', params: {} });
    const reply = await c.next();
    assert.equal(reply.id, 17);
    const error = reply.error as { code: number; message: string };
    assert.equal(error.code, -32601);
    assert.equal(error.message, 'Method not found');
  });

  test('after all of these the daemon still serves a new connection and the old ones', async () => {
    const { client } = await connectClient(daemon!.socket);
    try {
      const r = await client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } });
      assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
    } finally {
      await closeQuietly(client);
    }
    for (const c of opened) {
      c.send({ jsonrpc: '2.0', id: 'again', method: 'ping' });
      assert.deepEqual(await c.next(), { jsonrpc: '2.0', id: 'again', result: {} });
    }
    assert.equal(daemon!.running, true);
  });
});
