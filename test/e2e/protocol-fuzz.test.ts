// Protocol fuzzing of the socket: random bytes, endless lines, deep JSON, invalid UTF-8, unknown
// methods, ids reused by concurrent requests and cancel storms, from a seeded PRNG (the seed is
// printed; TOOLCELL_FUZZ_SEED replays it). After each case the daemon is alive, every fuzzed
// connection still answers a ping, and a bystander SDK client still gets its call served. The
// daemon's RSS is sampled throughout and must stay under a generous bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { closeQuietly, connectClient, makeToolsDir, pollUntil, RawConnection, removeDir, SLOWDOWN, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';
import { FUZZ_SEED, Prng, RssWatch } from '../helpers/fuzz.js';
import { createUsers, realKernelSkipReason } from '../helpers/fixtures.js';
import { killMarked, uniqueMarker, waitForMarkerGone, waitForSleep } from '../helpers/processes.js';

const skip = realKernelSkipReason();
const CAP = 1024 * 1024;
/** Generous: the daemon idles near 75 MiB and the bench peaks near 120 MiB. */
const RSS_BOUND_MIB = 400;
const DEPTH = 100_000;
/** A tool whose input schema admits extra arguments of any shape; it runs as a user of this test. */
const OPEN_USER = 'tctest-l11open';
const OPEN_MARK = 'tctest-deep-call-ran';
const OPEN_TOOL = `description = "echo, extra arguments of any shape allowed"
command = ["/bin/echo", "{script}"]
log_arguments = true
[input]
type = "object"
required = ["script"]
additionalProperties = true
properties.script = { type = "string" }
[identity]
user = "${OPEN_USER}"
[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
`;

type Reply = Record<string, unknown>;

/** Reads reply lines until every id in `ids` has one (bounded); returns them by id and the other lines. */
async function collect(c: RawConnection, ids: readonly (string | number)[], timeoutMs = 15_000 * SLOWDOWN): Promise<{ byId: Map<string | number, Reply[]>; others: Reply[] }> {
  const byId = new Map<string | number, Reply[]>();
  const others: Reply[] = [];
  const wanted = new Map<string | number, number>();
  for (const id of ids) wanted.set(id, (wanted.get(id) ?? 0) + 1);
  const deadline = Date.now() + timeoutMs;
  const missing = () => [...wanted].some(([id, n]) => (byId.get(id)?.length ?? 0) < n);
  for (let i = 0; i < 100_000 && missing(); i++) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no reply for ${JSON.stringify([...wanted].filter(([id, n]) => (byId.get(id)?.length ?? 0) < n))} within ${timeoutMs} ms`);
    const r = await c.next(left);
    const id = r.id as string | number | null;
    if (id !== null && wanted.has(id)) byId.set(id, [...(byId.get(id) ?? []), r]);
    else others.push(r);
  }
  return { byId, others };
}

/** Ends whatever half line the fuzz left, then pings: the connection must still answer. */
async function assertAnswers(c: RawConnection, id: string): Promise<Reply[]> {
  c.write('\n');
  c.send({ jsonrpc: '2.0', id, method: 'ping' });
  const { byId, others } = await collect(c, [id]);
  assert.deepEqual(byId.get(id), [{ jsonrpc: '2.0', id, result: {} }]);
  return others;
}

/** Each line the daemon sent back for garbage is a JSON-RPC error with one of these codes. */
function assertOnlyErrors(replies: readonly Reply[], codes: readonly number[]): void {
  for (const r of replies) {
    assert.equal(r.jsonrpc, '2.0');
    const code = (r.error as { code?: number } | undefined)?.code;
    assert.ok(code !== undefined && codes.includes(code), `unexpected reply ${JSON.stringify(r).slice(0, 300)}`);
  }
}

/** Writes and waits until the socket took it, so a fuzzer never buffers megabytes on its own side. */
function writeAll(c: RawConnection, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => c.socket.write(data, (e) => (e ? reject(e) : resolve())));
}

describe(`e2e: protocol fuzzing of the socket (seed ${FUZZ_SEED})`, { skip, timeout: 240_000 }, () => {
  let daemon: Daemon;
  let bystander: DirectClient;
  let rss: RssWatch;
  let baseline = 0;
  let tools: string | undefined;
  let removeOpenUser = async (): Promise<void> => undefined;
  const opened: RawConnection[] = [];
  const markers: string[] = [];
  const rng = new Prng(FUZZ_SEED);
  const open = async () => {
    const c = await RawConnection.open(daemon.socket);
    opened.push(c);
    await c.initialize();
    return c;
  };

  before(async () => {
    removeOpenUser = await createUsers([OPEN_USER]);
    tools = makeToolsDir({ 'open.toml': OPEN_TOOL });
    daemon = await startDaemon({
      tools,
      // Rate limiting would drop most fuzz lines unread: raise it so that they reach the parser.
      configToml: ['max_message_bytes = "1M"', 'max_messages_per_second = 1000000', 'log_level = "info"', 'drain_timeout = "30s"', ''].join('\n'),
    });
    bystander = await connectClient(daemon.socket);
    rss = new RssWatch(daemon.pid);
    baseline = rss.sample();
  });
  after(async () => {
    rss?.stop();
    for (const c of opened) c.close();
    await closeQuietly(bystander?.client);
    await daemon?.stop();
    for (const m of markers) killMarked(m);
    removeDir(tools);
    await removeOpenUser();
  });

  /** After every case: the daemon lives and an ordinary client is served. */
  const assertStillServing = async () => {
    assert.equal(daemon.running, true, `the daemon died:\n${daemon.stderr.slice(-2000)}`);
    const r = (await bystander.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
  };

  test('random bytes on 8 connections at once: only parse and request errors come back, every connection goes on', async () => {
    const conns = await Promise.all(Array.from({ length: 8 }, () => open()));
    const plans = conns.map(() => Array.from({ length: 60 }, () => {
      const b = rng.bytes(rng.int(1, 8192));
      // Some newlines, so that many short garbage lines are parsed, not only one long one.
      for (let k = rng.int(0, 8); k > 0; k--) b[rng.int(0, b.length - 1)] = 0x0a;
      return b;
    }));
    await Promise.all(conns.map(async (c, i) => {
      for (const chunk of plans[i]!) await writeAll(c, chunk);
    }));
    for (const [i, c] of conns.entries()) assertOnlyErrors(await assertAnswers(c, `after-random-${i}`), [-32700, -32600]);
    await assertStillServing();
  });

  test('endless lines: 32 MiB without a newline is refused once, the daemon holds none of it, and the line after is served', async () => {
    const c = await open();
    const quitter = await open();
    const piece = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 512; i++) {
      await writeAll(c, piece);
      // Meanwhile another connection starts an endless line of random bytes and hangs up inside it.
      if (i < 64) await writeAll(quitter, Buffer.from(rng.bytes(16 * 1024).map((b) => (b === 0x0a ? 0x20 : b))));
      if (i === 256) await assertStillServing();
    }
    quitter.close();
    const others = await assertAnswers(c, 'after-endless');
    assert.deepEqual(others, [{ jsonrpc: '2.0', id: null, error: { code: -32600, message: `message larger than ${CAP} bytes` } }]);
    await assertStillServing();
  });

  test(`deep JSON (${DEPTH} levels) anywhere in a message is refused before anything handles it, never a crash`, async () => {
    const c = await open();
    const arr = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`;
    const obj = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`;
    const lines = [
      `{"jsonrpc":"2.0","id":"d1","method":"ping","params":{"x":${arr}}}`,
      `{"jsonrpc":"2.0","id":"d2","method":"tools/call","params":{"name":"shell","arguments":{"script":${arr}}}}`,
      `{"jsonrpc":"2.0","id":"d3","method":"tools/call","params":{"name":"shell","arguments":{"script":"echo hi","x":${obj}}}}`,
      `{"jsonrpc":"2.0","id":"d4","method":"tools/call","params":{"name":"shell","arguments":{"script":"echo hi"},"_meta":{"x":${arr}}}}`,
      `{"jsonrpc":"2.0","id":"d5","method":"tools/list","params":{"cursor":${arr}}}`,
      // A response the daemon never asked for: the SDK stringified it into an error text, and the
      // stack overflowed in the socket's data handler, which ended the daemon.
      `{"jsonrpc":"2.0","id":"d6","result":${obj}}`,
      // A tool whose schema admits any extra argument: the call ran, then the audit digest of its
      // arguments overflowed, and the call had no audit line.
      `{"jsonrpc":"2.0","id":"d7","method":"tools/call","params":{"name":"open","arguments":{"script":"${OPEN_MARK}","x":${arr}}}}`,
    ];
    for (const l of lines) c.write(`${l}\n`);
    // Without an id of their own: a bare deep array and object, a deep id, a deep cancel.
    c.write(`${arr}\n${obj}\n{"jsonrpc":"2.0","id":${arr},"method":"ping"}\n{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${arr}}}\n`);
    const ids = lines.map((_, i) => `d${i + 1}`);
    const { byId, others } = await collect(c, ids);
    const tooDeep = (id: string | null) => ({ jsonrpc: '2.0', id, error: { code: -32600, message: 'message nested deeper than 64 levels' } });
    for (const id of ids) assert.deepEqual(byId.get(id), [tooDeep(id)]);
    assert.deepEqual([...others, ...(await assertAnswers(c, 'after-deep'))], [tooDeep(null), tooDeep(null), tooDeep(null), tooDeep(null)]);
    // Nested within the limit, the same tool runs, and its call has its audit line.
    c.send({ jsonrpc: '2.0', id: 'd-ok', method: 'tools/call', params: { name: 'open', arguments: { script: 'audited', x: JSON.parse(`${'['.repeat(20)}${']'.repeat(20)}`) } } });
    const ok = (await collect(c, ['d-ok'])).byId.get('d-ok')![0]!;
    assert.deepEqual((ok.result as CallToolResult).content, [{ type: 'text', text: 'audited\n' }]);
    assert.equal(await pollUntil(() => daemon.stdout.includes('"tool":"open"') && daemon.stdout.includes('"msg":"invocation"'), 5000), true, 'the audit line of the call');
    assert.equal(daemon.stdout.includes(OPEN_MARK), false, 'the deep call never ran');
    await assertStillServing();
  });

  test('invalid UTF-8 of every kind is a parse error; valid UTF-8 split at every byte is accepted', async () => {
    const c = await open();
    const bad = [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0x80], [0xbf, 0xbf], [0xfe], [0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98]];
    // Plus seeded random sequences: the decoder is fatal, so any invalid byte anywhere must be caught.
    for (let i = 0; i < 40; i++) bad.push([rng.pick([0x80, 0xc0, 0xc1, 0xf5, 0xff]), ...rng.bytes(rng.int(0, 3))].map((b) => (b === 0x0a || b === 0x22 || b === 0x5c ? 0x80 : b)));
    for (const [i, seq] of bad.entries()) {
      c.write(Buffer.concat([Buffer.from(`{"jsonrpc":"2.0","id":"u${i}","method":"ping","params":{"x":"`), Buffer.from(seq), Buffer.from('"}}\n')]));
    }
    const others = await assertAnswers(c, 'after-utf8');
    assert.deepEqual(others, bad.map(() => ({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'message is not valid UTF-8' } })));
    const good = Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', id: 'utf8-ok', method: 'ping', params: { x: 'é€𝄞 ✓' } })}\n`);
    for (const byte of good) await writeAll(c, Buffer.from([byte]));
    assert.deepEqual((await collect(c, ['utf8-ok'])).byId.get('utf8-ok'), [{ jsonrpc: '2.0', id: 'utf8-ok', result: {} }]);
    await assertStillServing();
  });

  test('300 unknown methods (random, and names of Object.prototype) each get -32601 with their id', async () => {
    const c = await open();
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'tools/call/', 'tools', 'rpc.discover', '', ' ping', 'PING', 'notifications/cancelled'];
    const alphabet = 'abcdefghijklmnopqrstuvwxyz/_.-$é€0123456789';
    while (names.length < 300) names.push(Array.from({ length: rng.int(1, 40) }, () => rng.pick([...alphabet])).join(''));
    const ids = names.map((_, i) => (i % 2 === 0 ? i : `m${i}`));
    names.forEach((method, i) => c.send({ jsonrpc: '2.0', id: ids[i], method, params: {} }));
    const { byId, others } = await collect(c, ids);
    assert.deepEqual(others, []);
    for (const [i, id] of ids.entries()) {
      const [r] = byId.get(id)!;
      assert.deepEqual((r!.error as { code: number }).code, -32601, `method ${JSON.stringify(names[i])}: ${JSON.stringify(r)}`);
    }
    await assertStillServing();
  });

  test('one id reused by 6 concurrent calls: the first runs and is answered, the other 5 are refused under that id (a cancel could not reach them); then it is free again', async () => {
    const c = await open();
    for (let i = 0; i < 6; i++) c.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'shell', arguments: { script: `sleep 0.2; echo call-${i}` } } });
    // And "7" the string is another id than 7 the number.
    c.send({ jsonrpc: '2.0', id: '7', method: 'ping' });
    const { byId, others } = await collect(c, [7, 7, 7, 7, 7, 7, '7']);
    assert.deepEqual(others, []);
    const answers = byId.get(7)!;
    assert.deepEqual(
      answers.filter((r) => 'error' in r),
      Array.from({ length: 5 }, () => ({ jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'request id 7 is already in use by a request not yet answered' } })),
    );
    assert.deepEqual(answers.filter((r) => 'result' in r).map((r) => ((r.result as CallToolResult).content[0] as { text: string }).text), ['call-0\n']);
    assert.deepEqual(byId.get('7'), [{ jsonrpc: '2.0', id: '7', result: {} }]);
    c.send({ jsonrpc: '2.0', id: 7, method: 'ping' });
    assert.deepEqual((await collect(c, [7])).byId.get(7), [{ jsonrpc: '2.0', id: 7, result: {} }]);
    await assertStillServing();
  });

  test('a cancel storm (5000 cancels for unknown, malformed and real ids) kills exactly the cancelled calls and nothing else', async () => {
    const c = await open();
    const marker = uniqueMarker(11_200);
    markers.push(marker);
    // Four sleeps that would run for a day: cancellation is what ends them.
    const real = [0, 1, 2, 3].map((i) => `real-${i}`);
    real.forEach((id, i) => c.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'shell', arguments: { script: `sleep ${marker}${i}` } } }));
    for (let i = 0; i < 4; i++) assert.equal(await waitForSleep(`${marker}${i}`), true, 'the calls run before the storm');
    // One that is not cancelled keeps running through the storm and answers.
    c.send({ jsonrpc: '2.0', id: 'survivor', method: 'tools/call', params: { name: 'shell', arguments: { script: 'sleep 1; echo survived' } } });
    const junkIds = (): unknown => rng.pick([rng.int(-1e9, 1e9), `u${rng.int(0, 1e6)}`, 'x'.repeat(rng.int(1, 20_000)), null, {}, [], true, 1.5, 'survivor-not']);
    let storm = '';
    for (let i = 0; i < 5000; i++) {
      const params = i % 50 === 7 ? { requestId: real[(i / 50) % 4 | 0], reason: 'storm' } : rng.int(0, 9) === 0 ? undefined : { requestId: junkIds() };
      storm += `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', ...(params ? { params } : {}) })}\n`;
      if (storm.length > 256 * 1024) {
        await writeAll(c, storm);
        storm = '';
      }
    }
    await writeAll(c, storm);
    assert.equal(await waitForMarkerGone(marker, 5000 * SLOWDOWN), true, 'the cancelled sandboxes are gone');
    const { byId, others } = await collect(c, ['survivor']);
    assert.deepEqual(((byId.get('survivor')![0]!.result as CallToolResult).content[0] as { text: string }).text, 'survived\n');
    // Cancelled requests get no answer (the SDK's choice, and the MCP spec's); notifications none either.
    assertOnlyErrors(others, []);
    assertOnlyErrors(await assertAnswers(c, 'after-storm'), []);
    await assertStillServing();
  });

  test(`RSS stays under ${RSS_BOUND_MIB} MiB through all of it, and a stop is not held up by the cancelled calls`, async (t) => {
    const now = rss.sample();
    t.diagnostic(`daemon RSS: ${baseline.toFixed(1)} MiB at start, peak ${rss.peak.toFixed(1)} MiB, ${now.toFixed(1)} MiB now`);
    console.log(`protocol fuzz (seed ${FUZZ_SEED}): daemon RSS ${baseline.toFixed(1)} MiB at start, peak ${rss.peak.toFixed(1)} MiB, ${now.toFixed(1)} MiB at the end`);
    assert.ok(rss.peak < RSS_BOUND_MIB, `peak RSS ${rss.peak.toFixed(1)} MiB`);
    // Every request was answered or cancelled: the drain has nothing to wait for (drain_timeout is 30 s).
    const started = Date.now();
    const status = await daemon.stop();
    assert.deepEqual([status.code, status.timedOut], [0, false]);
    assert.ok(Date.now() - started < 5000 * SLOWDOWN, `the stop took ${Date.now() - started} ms`);
  });
});
