// Each [input] schema is compiled on its own: nothing one profile (or one load of it) compiled may
// be seen by, conflict with or outlive another.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { checkArguments, compileArgumentValidator, hasPatterns, PATTERN_CHECK_MS, PATTERN_CHECK_STOPPED } from '../../../src/invocation/validate-arguments.js';

const withId = (id: string): Record<string, unknown> => ({
  $id: id,
  type: 'object',
  required: ['x'],
  properties: { x: { type: 'string' } },
  additionalProperties: false,
});

describe('compileArgumentValidator', () => {
  test('the same schema object is compiled once', () => {
    const s = withId('urn:toolcell:once');
    assert.equal(compileArgumentValidator(s), compileArgumentValidator(s));
  });

  test('a schema with "$id" compiles again as a new object (the profile reloaded)', () => {
    const first = compileArgumentValidator(withId('urn:toolcell:reload'));
    const second = compileArgumentValidator(withId('urn:toolcell:reload'));
    assert.notEqual(first, second);
    assert.deepEqual(checkArguments(withId('urn:toolcell:reload'), { x: 'a' }), []);
  });

  test("one schema's $id does not answer another's $ref", () => {
    compileArgumentValidator({ $id: 'urn:toolcell:other', type: 'object', properties: {}, additionalProperties: true });
    assert.throws(() => compileArgumentValidator({ $ref: 'urn:toolcell:other' }), /can't resolve reference urn:toolcell:other/);
  });

  test('validators of schemas no longer in use are garbage-collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const N = 50;
    const refs = (() => {
      const r: WeakRef<object>[] = [];
      for (let i = 0; i < N; i++) {
        const s = withId(`urn:toolcell:gc${i}`);
        compileArgumentValidator(s);
        r.push(new WeakRef(s));
      }
      return r;
    })();
    // A WeakRef holds its target until the current job ends.
    await new Promise((r) => setImmediate(r));
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    // Without a retainer every one goes; the margin only spares the test a stray stack slot.
    assert.ok(alive <= N / 10, `${alive} of ${N} schemas are still held`);
  });
});

describe('checkArguments with patterns', () => {
  const host = (pattern: string, extra: Record<string, unknown> = {}) => ({
    type: 'object',
    required: ['host'],
    properties: { host: { type: 'string', pattern, ...extra } },
    additionalProperties: false,
  });

  test(`a pattern that backtracks on hostile input is stopped after ${PATTERN_CHECK_MS} ms and the call refused; the same pattern still checks other input`, () => {
    // A hostname pattern an admin may well write: seconds at 30 characters, doubling with each more.
    const schema = host('^([a-z0-9]+-?)+$', { maxLength: 64 });
    checkArguments(schema, { host: 'warm' }); // compiled before the clock starts
    const started = performance.now();
    const problems = checkArguments(schema, { host: `${'a'.repeat(40)}!` });
    const ms = performance.now() - started;
    assert.deepEqual(problems, [PATTERN_CHECK_STOPPED]);
    assert.match(PATTERN_CHECK_STOPPED, /^arguments: the input schema's patterns took over 100 ms on these arguments and were stopped/);
    // Unbounded, this takes hours; stopped, about the limit (the watchdog's own latency added).
    assert.ok(ms < 20 * PATTERN_CHECK_MS, `${ms.toFixed(0)} ms`);
    assert.deepEqual(checkArguments(schema, { host: 'build-01' }), []);
    assert.deepEqual(checkArguments(schema, { host: 'a_b' }), ['argument host: must match pattern "^([a-z0-9]+-?)+$"']);
  });

  test('patternProperties are bounded too; a schema without patterns gives the same answers', () => {
    const schema = { type: 'object', patternProperties: { '^(x+)+$': { type: 'string' } }, additionalProperties: false };
    assert.match(checkArguments(schema, { [`${'x'.repeat(40)}y`]: 'v' })[0] ?? '', /patterns took over/);
    assert.deepEqual(checkArguments(schema, { xx: 'v' }), []);
    assert.deepEqual(checkArguments(withId('urn:toolcell:plain'), { x: 1 }), ['argument x: must be string']);
  });
});

test('which schemas have patterns: the keywords anywhere, not a property named "pattern"', () => {
  const prop = (schema: object) => ({ type: 'object', properties: { x: schema } });
  assert.equal(hasPatterns(prop({ type: 'string', pattern: '^a$' })), true);
  assert.equal(hasPatterns({ type: 'object', patternProperties: { '^a': {} } }), true);
  assert.equal(hasPatterns({ anyOf: [{ type: 'number' }, { type: 'string', pattern: 'b' }] }), true);
  assert.equal(hasPatterns({ $defs: { d: { pattern: 'c' } } }), true);
  assert.equal(hasPatterns({ type: 'object', properties: { pattern: { type: 'string', description: 'a regex for grep' } } }), false);
  assert.equal(hasPatterns(prop({ type: 'string', maxLength: 3 })), false);
});
