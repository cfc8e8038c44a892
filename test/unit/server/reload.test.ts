// Reload keeps the last good version of a profile that an edit broke; deleted ones go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeLastGood } from '../../../src/server/reload.js';
import type { ServedTool } from '../../../src/profile/load-tools.js';

const tool = (name: string, v: number) => ({ profile: { name, description: `v${v}` } }) as unknown as ServedTool;

test('a broken profile keeps its last good version; a fixed one is new; a deleted one is gone', () => {
  const previous = new Map([['a', tool('a', 1)], ['b', tool('b', 1)], ['c', tool('c', 1)]]);
  const loaded = new Map([['a', tool('a', 2)], ['d', tool('d', 1)]]);
  const r = mergeLastGood(previous, loaded, [{ file: '/etc/toolcell/tools/b.toml', line: 3, key: 'colour', message: 'unknown key' }]);
  assert.deepEqual([...r.tools].map(([n, t]) => `${n}:${t.profile.description}`), ['a:v2', 'b:v1', 'd:v1']);
  assert.deepEqual(r.keptLastGood, ['b']);
});

test('a new profile that is broken from the start is simply not served', () => {
  const r = mergeLastGood(new Map(), new Map(), [{ file: '/t/new.toml', key: '', message: 'x' }]);
  assert.deepEqual([...r.tools.keys()], []);
  assert.deepEqual(r.keptLastGood, []);
});
