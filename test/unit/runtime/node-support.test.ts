// Which Node.js the service may run on: tested LTS lines before their end of life, from the first
// release package.json engines names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeNode, supportedLines } from '../../../src/runtime/node-support.js';

const day = (d: string) => new Date(`${d}T12:00:00Z`);

test('Node 22 and 24 are supported in November 2026; 20 and 18 have reached their end of life', () => {
  const today = day('2026-11-22');
  assert.equal(supportedLines(today), '22, 24');
  assert.deepEqual(judgeNode('v24.21.0', today), { supported: true, detail: 'v24.21.0: LTS, supported until 2028-04-30' });
  assert.deepEqual(judgeNode('22.23.3', today), { supported: true, detail: 'v22.23.3: LTS, supported until 2027-04-30' });
  assert.deepEqual(judgeNode('v20.20.2', today), { supported: false, detail: 'v20.20.2: Node.js 20 reached its end of life on 2026-04-30 (supported: 22, 24)' });
  assert.equal(judgeNode('v18.19.0', today).supported, false);
});

test('odd (non-LTS) and unknown lines are not supported, nor a release older than the engines minimum', () => {
  const today = day('2026-11-22');
  assert.deepEqual(judgeNode('v23.11.0', today), { supported: false, detail: 'v23.11.0: not a Node.js LTS line toolcell supports (supported: 22, 24)' });
  assert.equal(judgeNode('v26.1.0', today).supported, false, 'not tested yet');
  assert.deepEqual(judgeNode('v22.11.0', today), { supported: false, detail: 'v22.11.0: older than 22.12.0, the first Node.js 22 release toolcell supports' });
});

test('a line stops being supported on its end-of-life day', () => {
  assert.equal(judgeNode('v22.23.3', day('2027-04-29')).supported, true);
  assert.equal(judgeNode('v22.23.3', day('2027-04-30')).supported, false);
  assert.equal(supportedLines(day('2027-05-01')), '24');
  assert.equal(judgeNode('v20.20.2', day('2026-04-01')).supported, true, 'before its end of life, 20 was supported');
});
