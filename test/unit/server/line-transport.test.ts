// The socket framing is written for hostile peers: every malformed line gets a JSON-RPC error back
// and the connection goes on. The transport runs over an in-memory Duplex: the test pushes "client"
// bytes into its readable side and collects what the transport writes as "server" output.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { INVALID_REQUEST, LineTransport, MAX_JSON_DEPTH, nestsDeeperThan, PARSE_ERROR, UNREAD_REPLY_DEADLINE_MS } from '../../../src/server/line-transport.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const MAX = 256;

interface Harness {
  readonly transport: LineTransport;
  readonly stream: Duplex;
  readonly messages: JSONRPCMessage[];
  readonly errors: Error[];
  closes: number;
  /** Client → server bytes. */
  send(bytes: string | Buffer): Promise<void>;
  /** Everything the server wrote, one parsed JSON value per line. */
  replies(): unknown[];
  /** The raw bytes the server wrote. */
  written(): string;
}

async function harness(max = MAX): Promise<Harness> {
  const out: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk);
      cb();
    },
  });
  const transport = new LineTransport(stream, max);
  const h: Harness = {
    transport,
    stream,
    messages: [],
    errors: [],
    closes: 0,
    async send(bytes) {
      stream.push(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
      await tick();
    },
    replies() {
      return h.written().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
    },
    written() {
      return Buffer.concat(out).toString('utf8');
    },
  };
  transport.onmessage = (m) => h.messages.push(m);
  transport.onerror = (e) => h.errors.push(e);
  transport.onclose = () => h.closes++;
  await transport.start();
  return h;
}

const PING = { jsonrpc: '2.0', id: 1, method: 'ping' } as const;
const line = (v: unknown) => `${JSON.stringify(v)}\n`;

/** Asserts the replies are JSON-RPC errors with these codes and ids (messages are checked for type). */
function assertErrors(replies: unknown[], expected: readonly [number, string | number | null][]): void {
  assert.equal(replies.length, expected.length, `replies: ${JSON.stringify(replies)}`);
  replies.forEach((r, i) => {
    const [code, id] = expected[i] ?? [];
    const reply = r as { jsonrpc: string; id: unknown; error: { code: number; message: unknown } };
    assert.deepEqual(Object.keys(reply).sort(), ['error', 'id', 'jsonrpc']);
    assert.equal(reply.jsonrpc, '2.0');
    assert.equal(reply.id, id);
    assert.equal(reply.error.code, code);
    assert.equal(typeof reply.error.message, 'string');
  });
}

describe('LineTransport', () => {
  test('the error codes are the JSON-RPC ones', () => {
    assert.equal(PARSE_ERROR, -32700);
    assert.equal(INVALID_REQUEST, -32600);
  });

  test('a valid message is delivered to onmessage', async () => {
    const h = await harness();
    await h.send(line(PING));
    assert.deepEqual(h.messages, [PING]);
    assert.equal(h.written(), '');
  });

  test('a notification and a response are delivered too', async () => {
    const h = await harness();
    const note = { jsonrpc: '2.0', method: 'notifications/initialized' };
    const response = { jsonrpc: '2.0', id: 'a', result: {} };
    await h.send(line(note) + line(response));
    assert.deepEqual(h.messages, [note, response]);
  });

  test('a message split across chunks is delivered once, whole', async () => {
    const h = await harness();
    const text = line(PING);
    await h.send(text.slice(0, 5));
    await h.send(text.slice(5, 20));
    assert.deepEqual(h.messages, []);
    await h.send(text.slice(20));
    assert.deepEqual(h.messages, [PING]);
  });

  test('a multi-byte UTF-8 character split across chunks survives', async () => {
    const h = await harness();
    const msg = { jsonrpc: '2.0', id: 2, method: 'echo', params: { s: 'é🙂' } };
    const bytes = Buffer.from(line(msg));
    const cut = bytes.indexOf(Buffer.from('🙂')) + 2; // inside the 4-byte sequence
    await h.send(bytes.subarray(0, cut));
    await h.send(bytes.subarray(cut));
    assert.deepEqual(h.messages, [msg]);
    assert.equal(h.written(), '');
  });

  test('two messages in one chunk are both delivered, in order', async () => {
    const h = await harness();
    const second = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    await h.send(line(PING) + line(second));
    assert.deepEqual(h.messages, [PING, second]);
  });

  test('a message without its newline is not delivered yet', async () => {
    const h = await harness();
    await h.send(JSON.stringify(PING));
    assert.deepEqual(h.messages, []);
    await h.send('\n');
    assert.deepEqual(h.messages, [PING]);
  });

  test('oversized line: -32600 with id null, the rest of the line is discarded, the next line is delivered', async () => {
    const h = await harness(64);
    const big = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'x', params: { pad: 'a'.repeat(200) } });
    // The big line arrives in pieces; the valid line comes in the same chunk as its tail.
    await h.send(big.slice(0, 50));
    await h.send(big.slice(50, 150));
    assertErrors(h.replies(), [[INVALID_REQUEST, null]]);
    await h.send(`${big.slice(150)}\n${line(PING)}`);
    assert.deepEqual(h.messages, [PING]);
    assertErrors(h.replies(), [[INVALID_REQUEST, null]]);
    assert.match(h.written(), /message larger than 64 bytes/);
  });

  test('oversized line in a single chunk, followed by a valid line', async () => {
    const h = await harness(64);
    await h.send(`${'x'.repeat(1000)}\n${line(PING)}`);
    assertErrors(h.replies(), [[INVALID_REQUEST, null]]);
    assert.deepEqual(h.messages, [PING]);
  });

  test('a line of exactly the cap is accepted', async () => {
    const text = JSON.stringify(PING);
    const h = await harness(Buffer.byteLength(text));
    await h.send(`${text}\n`);
    assert.deepEqual(h.messages, [PING]);
    assert.equal(h.written(), '');
  });

  test('invalid UTF-8 → -32700, and the connection goes on', async () => {
    const h = await harness();
    await h.send(Buffer.from([0xff, 0xfe, 0x0a]));
    assertErrors(h.replies(), [[PARSE_ERROR, null]]);
    assert.match(h.written(), /not valid UTF-8/);
    await h.send(line(PING));
    assert.deepEqual(h.messages, [PING]);
  });

  test('invalid UTF-8 inside an otherwise valid JSON string → -32700', async () => {
    const h = await harness();
    await h.send(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]));
    assertErrors(h.replies(), [[PARSE_ERROR, null]]);
    assert.deepEqual(h.messages, []);
  });

  test('not JSON → -32700', async () => {
    const h = await harness();
    await h.send('hello there\n{"jsonrpc":\n');
    assertErrors(h.replies(), [
      [PARSE_ERROR, null],
      [PARSE_ERROR, null],
    ]);
    assert.match(h.written(), /not valid JSON/);
    assert.deepEqual(h.messages, []);
  });

  test('JSON that is not JSON-RPC → -32600 with its id', async () => {
    const h = await harness();
    await h.send('{"id":5,"foo":1}\n{"id":"s-1","method":"x"}\n[1,2]\n{"id":{"x":1}}\n42\nnull\n');
    assertErrors(h.replies(), [
      [INVALID_REQUEST, 5],
      [INVALID_REQUEST, 's-1'], // no "jsonrpc": "2.0"
      [INVALID_REQUEST, null],
      [INVALID_REQUEST, null], // an object id is not echoed
      [INVALID_REQUEST, null],
      [INVALID_REQUEST, null],
    ]);
    assert.deepEqual(h.messages, []);
  });

  test('blank lines are ignored without a reply', async () => {
    const h = await harness();
    await h.send('\n\n   \n\r\n\t\n');
    await h.send(line(PING));
    assert.equal(h.written(), '');
    assert.deepEqual(h.messages, [PING]);
  });

  test('CRLF line endings are accepted', async () => {
    const h = await harness();
    await h.send(`${JSON.stringify(PING)}\r\n${JSON.stringify({ ...PING, id: 2 })}\r\n`);
    assert.deepEqual(h.messages, [PING, { ...PING, id: 2 }]);
    assert.equal(h.written(), '');
  });

  test('send() writes one JSON line', async () => {
    const h = await harness();
    await h.transport.send({ jsonrpc: '2.0', id: 7, result: { ok: true } });
    assert.equal(h.written(), '{"jsonrpc":"2.0","id":7,"result":{"ok":true}}\n');
  });

  test('close() fires onclose once and destroys the stream', async () => {
    const h = await harness();
    await h.transport.close();
    await tick();
    await h.transport.close();
    await tick();
    assert.equal(h.closes, 1);
    assert.equal(h.stream.destroyed, true);
  });

  test('nothing is delivered or written after close()', async () => {
    const h = await harness();
    await h.transport.close();
    await h.transport.send(PING);
    assert.equal(h.written(), '');
    assert.deepEqual(h.messages, []);
  });

  test('the peer ending its side closes the transport once', async () => {
    const h = await harness();
    await h.send(line(PING));
    h.stream.push(null);
    await tick();
    await tick();
    assert.equal(h.closes, 1);
    assert.deepEqual(h.messages, [PING]);
  });

  test('a stream error is reported to onerror', async () => {
    const h = await harness();
    h.stream.destroy(new Error('boom'));
    await tick();
    assert.deepEqual(h.errors.map((e) => e.message), ['boom']);
    assert.equal(h.closes, 1);
  });

  test('a cancelled request stops counting as unanswered: idle() resolves, and a cancel for an unknown id changes nothing', async () => {
    const h = await harness();
    await h.send(line({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: {} }));
    await h.send(line({ jsonrpc: '2.0', id: 'b', method: 'tools/call', params: {} }));
    let idle = false;
    void h.transport.idle().then(() => (idle = true));
    await h.send(line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'a' } }));
    await h.send(line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'nosuch' } }));
    assert.equal(idle, false, 'b is still unanswered');
    await h.transport.send({ jsonrpc: '2.0', id: 'b', result: {} });
    await tick();
    assert.equal(idle, true);
  });

  test('a request id still unanswered is refused with -32600 and its id, undelivered; answered or cancelled, it may be used again', async () => {
    const h = await harness();
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: {} }) as const;
    await h.send(line(call(7)) + line(call(7)));
    assert.deepEqual(h.messages, [call(7)]);
    assertErrors(h.replies(), [[INVALID_REQUEST, 7]]);
    assert.equal((h.replies()[0] as { error: { message: string } }).error.message, 'request id 7 is already in use by a request not yet answered');
    await h.transport.send({ jsonrpc: '2.0', id: 7, result: {} });
    await h.send(line(call(7)));
    assert.deepEqual(h.messages, [call(7), call(7)]);
    await h.send(line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } }));
    await h.send(line(call(7)));
    assert.equal(h.messages.filter((m) => 'id' in m).length, 3);
    assert.equal(h.replies().filter((r) => 'error' in (r as object)).length, 1);
  });

  /**
   * A transport whose peer has not read a reply of over a MiB: its writes complete only when the
   * test calls what `held` holds (the peer reads).
   */
  async function unreadPeer() {
    const held: (() => void)[] = [];
    const stream = new Duplex({
      read() {},
      write(_chunk: Buffer, _enc, cb) {
        held.push(cb);
      },
    });
    const transport = new LineTransport(stream, 1 << 20);
    const messages: JSONRPCMessage[] = [];
    const errors: Error[] = [];
    let closes = 0;
    transport.onmessage = (m) => messages.push(m);
    transport.onerror = (e) => errors.push(e);
    transport.onclose = () => closes++;
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, result: { pad: 'x'.repeat(1100 * 1024) } });
    return { stream, held, messages, errors, closes: () => closes, send: (m: JSONRPCMessage) => transport.send(m) };
  }

  test('a peer that does not read its replies gets no more requests read until they drain', async () => {
    const { stream, held, messages } = await unreadPeer();
    assert.equal(stream.isPaused(), true, 'reading paused while over a MiB of replies is unread');
    stream.push(line(PING));
    await tick();
    assert.deepEqual(messages, [], 'no request read meanwhile');
    // The peer reads: the queued write completes, the stream drains and reading resumes.
    for (const cb of held.splice(0)) cb();
    await tick();
    await tick();
    assert.equal(stream.isPaused(), false);
    assert.deepEqual(messages, [PING]);
  });

  test(`a peer whose replies stay unread for ${UNREAD_REPLY_DEADLINE_MS / 1000} s is closed; one that reads in time is not`, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const late = await unreadPeer();
    const reader = await unreadPeer();
    t.mock.timers.tick(UNREAD_REPLY_DEADLINE_MS - 1000);
    for (const cb of reader.held.splice(0)) cb();
    await tick();
    t.mock.timers.tick(2000);
    await tick();
    assert.equal(late.closes(), 1);
    assert.equal(late.stream.destroyed, true);
    assert.match(late.errors[0]?.message ?? '', /^peer has not read its replies \(\d+ bytes queued\) for 30 s; closing$/);
    assert.equal(reader.closes(), 0, 'drained in time: the deadline is off');
    assert.equal(reader.stream.destroyed, false);
  });

  test('a peer that reads, if slowly, while new replies keep the queue over a MiB, is not closed', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slow = await unreadPeer();
    const reply = (id: number) => slow.send({ jsonrpc: '2.0', id, result: { pad: 'x'.repeat(1100 * 1024) } });
    for (let round = 2; round < 6; round++) {
      // One more reply queued, then the peer takes the oldest: the queue never empties.
      await reply(round);
      t.mock.timers.tick(UNREAD_REPLY_DEADLINE_MS - 1000);
      slow.held.shift()!();
      await tick();
    }
    t.mock.timers.tick(UNREAD_REPLY_DEADLINE_MS);
    await tick();
    assert.equal(slow.closes(), 0, 'a reply went out in every deadline');
    // Now it stops reading: one deadline later it is closed.
    t.mock.timers.tick(UNREAD_REPLY_DEADLINE_MS);
    await tick();
    assert.equal(slow.closes(), 1);
  });

  test('a line sent a byte at a time costs its bytes, not an object per read', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const h = await harness(1 << 20);
    const N = 100_000;
    gc();
    const before = process.memoryUsage().heapUsed;
    // Each push is one read of the transport's, as a socket's 1-byte segments would be.
    for (let i = 0; i < N; i++) h.stream.emit('data', Buffer.from('x'));
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // A Buffer view per read held about 200 bytes each: 20 MB here.
    assert.ok(grown < 4_000_000, `heap grew ${grown} bytes for ${N} one-byte reads`);
    await h.send('\n');
    assert.equal((h.replies()[0] as { error: { code: number } }).error.code, PARSE_ERROR, 'the line was kept whole (and is not JSON)');
  });

  test('a message whose handling throws (the SDK stringifying deep JSON) costs its answer only, never the process', async () => {
    const h = await harness();
    let calls = 0;
    h.transport.onmessage = (m) => {
      calls++;
      if ('id' in m && m.id === 'boom') throw new RangeError('Maximum call stack size exceeded');
      h.messages.push(m);
    };
    await h.send(line({ ...PING, id: 'boom' }));
    await h.send(line({ jsonrpc: '2.0', id: 'boom', result: {} }));
    await h.send(line(PING));
    assert.equal(calls, 3);
    assertErrors(h.replies(), [[-32603, 'boom'], [-32603, null]]);
    assert.deepEqual(h.errors.map((e) => e.message), ['Maximum call stack size exceeded', 'Maximum call stack size exceeded']);
    assert.deepEqual(h.messages, [PING]);
  });

  test(`nesting: ${MAX_JSON_DEPTH} levels are delivered, one more is refused with the message's id; brackets in strings do not count`, async () => {
    const h = await harness(1 << 20);
    const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    // The message object itself is one level, params another.
    await h.send(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${nested(MAX_JSON_DEPTH - 2)},"s":"${'['.repeat(500)}"}}\n`);
    await h.send(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":${nested(MAX_JSON_DEPTH - 1)}}}\n`);
    await h.send(`${nested(100_000)}\n`);
    assert.deepEqual(h.messages.map((m) => ('id' in m ? m.id : undefined)), [1]);
    assertErrors(h.replies(), [[INVALID_REQUEST, 2], [INVALID_REQUEST, null]]);
    assert.deepEqual((h.replies()[0] as { error: { message: string } }).error.message, `message nested deeper than ${MAX_JSON_DEPTH} levels`);
    // JSON.stringify writes the escapes: an escaped quote does not end the string, an escaped backslash does not escape the quote after it.
    assert.equal(nestsDeeperThan(JSON.stringify({ a: '"[[[' }), 1), false);
    assert.equal(nestsDeeperThan(JSON.stringify({ a: '\\', b: [[1]] }), 2), true);
    assert.equal(nestsDeeperThan(JSON.stringify({ a: '\\', b: [[1]] }), 3), false);
  });
});
