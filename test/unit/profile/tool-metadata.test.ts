// Annotations and the policy line per kind of profile: read-only, writable, with egress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toolMetadata } from '../../../src/profile/tool-metadata.js';
import { profileFrom, scriptToolToml } from '../../helpers/fixtures.js';

test('read-only, no network', () => {
  const m = toolMetadata(profileFrom('ro', scriptToolToml({ description: 'reads' })));
  assert.deepEqual(m, { description: 'reads\n[toolcell sandbox: no network; host files read-only; 256M memory, 30 s]', annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: false } });
});

test('writable host paths make a tool destructive, egress makes it open-world', () => {
  const m = toolMetadata(profileFrom('rw', scriptToolToml({ description: 'writes', writable: ['/srv/out:/work/out'], limits: 'memory = "1G"\ntimeout = "2m"', sections: '[network]\nallow = ["pypi.org:443", "10.0.0.0/8:5432"]' })));
  assert.deepEqual(m, {
    description: 'writes\n[toolcell sandbox: network only to pypi.org:443, 10.0.0.0/8:5432; writes /work/out; 1G memory, 120 s]',
    annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
  });
});
