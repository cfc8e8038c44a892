// The daemon's V8 settings are written in three places that cannot import them: each must say
// exactly DAEMON_NODE_OPTIONS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_NODE_OPTIONS } from '../../../src/server/node-options.js';
import { ROOT } from '../../helpers/paths.js';

const flags = DAEMON_NODE_OPTIONS.join(' ');

test('npm start serves with the daemon options', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.start!, new RegExp(`node ${flags} bin/toolcell\\.js serve `));
});

test('the systemd unit sets them for its daemon', () => {
  const unit = readFileSync(join(ROOT, 'systemd/toolcell.service'), 'utf8');
  assert.deepEqual(unit.match(/^Environment=NODE_OPTIONS=.*$/gm), [`Environment=NODE_OPTIONS=${flags}`]);
});
