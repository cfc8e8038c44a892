// ReadyPool with a fake build: which tools get ready sandboxes, that each is handed out once, and
// that every one is torn down (expired, replaced by a reload, or at close).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuiltSandbox } from '../../../src/invocation/build-sandbox.js';
import { ReadyPool, REPLACE_AFTER_MS } from '../../../src/invocation/ready-pool.js';
import { TeardownStack } from '../../../src/invocation/teardown-stack.js';
import type { ServedTool } from '../../../src/profile/load-tools.js';
import { profileFrom, silentLogger } from '../../helpers/fixtures.js';

const TOML = 'description = "d"\ncommand = ["/bin/true"]\n';

function tool(name = 't', extra = ''): ServedTool {
  return { profile: profileFrom(name, `${TOML}${extra}`), user: { name: `tc-${name}`, uid: 990, gid: 990 }, seccomp: Buffer.alloc(0) };
}

/** A fake build: records what was built and what was torn down; `fail` makes the next builds fail. */
function fakeBuilds() {
  const built: string[] = [];
  const tornDown: string[] = [];
  const exits = new Map<string, () => void>();
  let fail: 'throw' | 'bwrap' | undefined;
  const build = async (t: ServedTool, id: string): Promise<BuiltSandbox> => {
    await Promise.resolve();
    if (fail === 'throw') throw new Error('no network today');
    built.push(id);
    const teardown = new TeardownStack();
    teardown.push('fake', () => void tornDown.push(id));
    const exited = new Promise<{ code: number | null; signal: null }>((resolve) => exits.set(id, () => resolve({ code: 0, signal: null })));
    return {
      id,
      tool: t,
      failed: fail === 'bwrap',
      teardown,
      process: { exited } as BuiltSandbox['process'],
    } as unknown as BuiltSandbox;
  };
  return { build, built, tornDown, exits, setFail: (f: typeof fail) => (fail = f) };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

test("the first call waits for the pool's first build; then perTool stand ready, each taken once", async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 2, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const t = tool();
  const first = await pool.take(t);
  assert.equal(first?.id, f.built[0]);
  await settle();
  assert.deepEqual(pool.counts(), { t: 2 });
  const a = await pool.take(t);
  const b = await pool.take(t);
  assert.ok(a && b && a.id !== b.id);
  assert.deepEqual(new Set(f.built.slice(1, 3)), new Set([a.id, b.id]));
  await settle();
  assert.deepEqual(pool.counts(), { t: 0 }, 'no replacement is built beside a running tool');
  f.exits.get(a.id)!();
  f.exits.get(b.id)!();
  await settle();
  assert.deepEqual(pool.counts(), { t: 2 }, "each take's replacement was built once its tool ended");
  await pool.close();
  assert.equal(f.tornDown.length, 2, "close tore down the two still ready (the taken ones are their calls')");
  assert.equal(await pool.take(t), undefined, 'closed: nothing more is handed out or built');
});

test('a taken sandbox whose tool runs long is replaced after REPLACE_AFTER_MS, while it runs', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const t = tool();
  await pool.take(t);
  await settle();
  const running = await pool.take(t);
  assert.equal(running?.id, f.built[1]);
  await settle();
  assert.deepEqual(pool.counts(), { t: 0 });
  await new Promise((r) => setTimeout(r, REPLACE_AFTER_MS + 50));
  assert.deepEqual(pool.counts(), { t: 1 }, 'replaced while the tool still runs');
  f.exits.get(running!.id)!();
  await settle();
  assert.deepEqual(pool.counts(), { t: 1 }, "the tool's end builds no second replacement");
  assert.equal(f.built.length, 3);
  await pool.close();
});

test('a tool with secrets never gets a sandbox ahead of its call; perTool 0 turns the pool off', async () => {
  const f = fakeBuilds();
  const withSecret = tool('s', '[secrets]\nTOKEN = { file = "/etc/toolcell/secrets/t" }\n');
  const pool = new ReadyPool({ perTool: 2, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  assert.equal(ReadyPool.eligible(withSecret), false);
  assert.equal(await pool.take(withSecret), undefined);
  const off = new ReadyPool({ perTool: 0, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  assert.equal(await off.take(tool()), undefined);
  await settle();
  assert.deepEqual(f.built, []);
  await pool.close();
  await off.close();
});

test('a ready sandbox not taken within max age is torn down and not replaced', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 30, logger: silentLogger, build: f.build });
  await pool.take(tool());
  await settle();
  assert.deepEqual(pool.counts(), { t: 1 });
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(pool.counts(), { t: 0 });
  assert.deepEqual(f.tornDown, f.built.slice(1));
  assert.equal(f.built.length, 2);
  await pool.close();
});

test('a ready sandbox whose bwrap exited is never handed out', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const t = tool();
  await pool.take(t);
  await settle();
  const exited = f.built[1]!;
  f.exits.get(exited)!();
  await settle();
  const next = await pool.take(t);
  assert.ok(next && next.id !== exited, 'the call waits for a fresh build instead');
  await settle();
  assert.deepEqual(f.tornDown, [exited]);
  await pool.close();
});

test('another version of the tool (a reload) replaces the ready ones; a removed tool loses them', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const v1 = tool();
  await pool.take(v1);
  await settle();
  const v2 = tool('t', '# edited\n');
  assert.notEqual(v1.profile.digest, v2.profile.digest);
  const forV2 = await pool.take(v2);
  assert.equal(forV2?.tool, v2, 'v1 sandboxes are not handed to v2');
  await settle();
  assert.deepEqual(f.tornDown, [f.built[1]]);
  pool.retain(new Map());
  await settle();
  assert.deepEqual(pool.counts(), {});
  assert.equal(f.tornDown.length, 2);
  await pool.close();
});

test('a call that looked its tool up before a reload takes after it: it builds its own, the served version keeps its ready ones', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 2, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const v1 = tool();
  await pool.take(v1);
  await settle();
  const v2 = tool('t', '# edited\n');
  pool.retain(new Map([['t', v2]]));
  await pool.take(v2);
  await settle();
  assert.deepEqual(pool.counts(), { t: 2 });
  const builtBefore = f.built.length;
  const tornBefore = f.tornDown.length;
  assert.equal(await pool.take(v1), undefined, 'the old version gets nothing from the pool');
  await settle();
  assert.deepEqual(pool.counts(), { t: 2 });
  assert.equal(f.built.length, builtBefore, 'nothing built for the old version');
  assert.equal(f.tornDown.length, tornBefore, "the served version's ready ones stand");
  assert.equal((await pool.take(v2))?.tool, v2);
  pool.retain(new Map());
  assert.equal(await pool.take(v2), undefined, 'a removed tool gets nothing either');
  await settle();
  assert.deepEqual(pool.counts(), {});
  await pool.close();
});

test('a failed build pauses the tool for max age (its calls build their own) and is torn down', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const t = tool();
  f.setFail('bwrap');
  assert.equal(await pool.take(t), undefined, 'the call builds its own');
  await settle();
  assert.deepEqual(pool.counts(), { t: 0 });
  assert.deepEqual(f.tornDown, f.built, 'the sandbox bwrap refused is torn down');
  f.setFail(undefined);
  const builtBefore = f.built.length;
  assert.equal(await pool.take(t), undefined);
  await settle();
  assert.equal(f.built.length, builtBefore, 'no new build while paused');
  f.setFail('throw');
  const other = tool('u');
  assert.equal(await pool.take(other), undefined);
  await settle();
  assert.deepEqual(pool.counts(), { t: 0, u: 0 });
  await pool.close();
});

/** A fake build that finishes only when told to, to count the builds under way. */
function heldBuilds() {
  const f = fakeBuilds();
  const held: (() => void)[] = [];
  let underWay = 0;
  let most = 0;
  const build = async (t: ServedTool, id: string): Promise<BuiltSandbox> => {
    underWay++;
    most = Math.max(most, underWay);
    await new Promise<void>((r) => held.push(r));
    underWay--;
    return f.build(t, id);
  };
  return { ...f, build, held, most: () => most };
}

test('no more than maxBuilds builds at once, over all tools; every waiting call is served in turn', async () => {
  const f = heldBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, maxBuilds: 2, logger: silentLogger, build: f.build });
  const calls = [pool.take(tool('a')), pool.take(tool('a')), pool.take(tool('a')), pool.take(tool('b')), pool.take(tool('b'))];
  const got: (BuiltSandbox | undefined)[] = [];
  calls.forEach((c, i) => void c.then((s) => (got[i] = s)));
  for (let round = 0; round < 20 && got.filter(Boolean).length < calls.length; round++) {
    await settle();
    assert.ok(f.held.length <= 2, `${f.held.length} builds under way`);
    for (const release of f.held.splice(0)) release();
  }
  assert.equal(f.most(), 2);
  const sandboxes = await Promise.all(calls);
  assert.equal(new Set(sandboxes.map((s) => s?.id)).size, 5, 'each call got a sandbox of its own');
  assert.deepEqual(sandboxes.map((s) => s?.tool.profile.name), ['a', 'a', 'a', 'b', 'b']);
  for (let round = 0; round < 5; round++) {
    await settle();
    for (const release of f.held.splice(0)) release();
  }
  await pool.close();
});

test('calls waiting beyond the builds under way when a build fails build their own', async () => {
  const f = heldBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, maxBuilds: 1, logger: silentLogger, build: f.build });
  const t = tool();
  const calls = [pool.take(t), pool.take(t), pool.take(t)];
  await settle();
  assert.equal(f.held.length, 1);
  f.setFail('bwrap');
  f.held.shift()!();
  assert.deepEqual(await Promise.all(calls), [undefined, undefined, undefined], 'paused: every waiting call builds its own');
  await pool.close();
});

test('a build that ends goes to the call that has waited longest, whatever its tool: a tool in constant demand does not starve another', async () => {
  const f = heldBuilds();
  const pool = new ReadyPool({ perTool: 1, maxAgeMs: 60_000, maxBuilds: 1, logger: silentLogger, build: f.build });
  const a = tool('a');
  const b = tool('b');
  const takes = [pool.take(a)];
  let bGot: BuiltSandbox | undefined;
  void pool.take(b).then((s) => (bGot = s));
  // Tool a always has a call waiting that came after b's; each round one build ends.
  let rounds = 0;
  for (; rounds < 10 && bGot === undefined; rounds++) {
    takes.push(pool.take(a));
    await settle();
    assert.equal(f.held.length, 1, 'one build at a time');
    f.held.shift()!();
    await settle();
  }
  assert.equal(bGot?.tool.profile.name, 'b');
  assert.ok(rounds <= 2, `b's call was served after ${rounds} builds`);
  for (let round = 0; round < 30 && f.held.length > 0; round++) {
    f.held.shift()!();
    await settle();
  }
  assert.equal((await Promise.all(takes)).filter((s) => s?.tool.profile.name === 'a').length, takes.length);
  await pool.close();
});

test('maxReady bounds what stands ready over all tools; a waiting call still gets a build of its own', async () => {
  const f = fakeBuilds();
  const pool = new ReadyPool({ perTool: 4, maxReady: 6, maxAgeMs: 60_000, logger: silentLogger, build: f.build });
  const tools = ['a', 'b', 'c'].map((n) => tool(n));
  // A caller calls every tool once: each first call waits for a build, then the pool tops up.
  for (const t of tools) assert.ok(await pool.take(t));
  await settle();
  const counts = pool.counts();
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 6, JSON.stringify(counts));
  assert.equal(f.built.length, 3 + 6);
  // Taking a ready one still works, and its replacement stays within the bound.
  const taken = await pool.take(tools[0]!);
  assert.ok(taken);
  f.exits.get(taken.id)!();
  await settle();
  assert.equal(Object.values(pool.counts()).reduce((a, b) => a + b, 0), 6);
  await pool.close();
});
