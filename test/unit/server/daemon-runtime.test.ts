// How the daemon is started is written in three places that cannot import it: each must say
// exactly DAEMON_NODE_OPTIONS and DAEMON_ENV.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAEMON_ENV, DAEMON_NODE_OPTIONS } from '../../../src/server/daemon-runtime.js';
import { ROOT } from '../../helpers/paths.js';

const flags = DAEMON_NODE_OPTIONS.join(' ');
const env = Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`);

test('npm start serves with the daemon options', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.start!, new RegExp(`&& ${env.join(' ')} node ${flags} bin/toolcell\\.js serve `));
});

test('the systemd unit sets them for its daemon', () => {
  const unit = readFileSync(join(ROOT, 'systemd/toolcell.service'), 'utf8');
  assert.deepEqual(unit.match(/^ExecStart=.*$/gm), [`ExecStart=/usr/bin/node ${flags} /usr/lib/toolcell/bin/toolcell.js serve --config /etc/toolcell/toolcell.toml`]);
  assert.deepEqual(unit.match(/^Environment=.*$/gm), env.map((e) => `Environment=${e}`));
});
