// locateKey turns a schema path into "file:line". A wrong line sends the admin to the wrong place,
// so each row names the exact line (or undefined when the key is not written in the file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { locateKey } from '../../../src/profile/locate-key.js';

const SOURCE = `# a comment: memory = "1G"
description = "a = b"
command = ["/bin/echo", "{x}"]
env = { LANG = "C.UTF-8", TZ = "UTC" }

[input]
type = "object"
properties.x = { type = "string" }

[filesystem]
read_only = [
  "/usr",
]
tmpfs = ["/tmp"]

[limits] # trailing comment
memory_high = "1G"
memory = "256M"
`;

const ROWS: readonly { name: string; path: readonly (string | number)[]; line: number | undefined; source?: string }[] = [
  { name: 'top-level key', path: ['description'], line: 2 },
  { name: 'top-level array', path: ['command'], line: 3 },
  { name: 'array index is ignored (points at the array)', path: ['filesystem', 'read_only', 1], line: 11 },
  { name: 'key inside an inline table', path: ['env', 'TZ'], line: 4 },
  { name: 'dotted key under a table header', path: ['input', 'properties', 'x'], line: 8 },
  { name: 'deeper than the dotted key', path: ['input', 'properties', 'x', 'type'], line: 8 },
  { name: 'key under a header with a trailing comment', path: ['limits', 'memory'], line: 18 },
  { name: 'a key is not matched by a longer key with the same prefix', path: ['limits', 'memory_high'], line: 17 },
  { name: 'a table itself points at its header', path: ['limits'], line: 16 },
  { name: 'a key of another table is not matched', path: ['tmpfs'], line: undefined },
  { name: 'absent key', path: ['limits', 'pids'], line: undefined },
  { name: 'empty path', path: [], line: undefined },
  { name: 'path starting with an index', path: [0, 'x'], line: undefined },
  { name: 'quoted table header', path: ['limits', 'memory'], line: 2, source: '[ "limits" ]\nmemory = "1M"\n' },
  { name: 'quoted key without spaces', path: ['env', 'MY VAR'], line: 3, source: 'x = 1\n[env]\n"MY VAR"="1"\n' },
  // TOML's usual spelling puts spaces around "=": the key's closing quote is then followed by a
  // space, and the quote must still be stripped.
  { name: 'quoted key with the usual spaces around "="', path: ['env', 'MY VAR'], line: 3, source: 'x = 1\n[env]\n"MY VAR" = "1"\n' },
  { name: 'single-quoted key with spaces around "="', path: ['env', 'A-B'], line: 2, source: "[env]\n'A-B' = '1'\n" },
];

describe('locateKey', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      assert.equal(locateKey(row.source ?? SOURCE, row.path), row.line);
    });
  }
});
