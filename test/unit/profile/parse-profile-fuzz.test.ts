// Fuzzing the profile parser: the bundled and example profiles, mutated by a seeded PRNG (cut,
// duplicated and swapped lines, hostile tokens and values, random bytes, deep nesting), go into
// parseProfile. It must never throw: every input is a Profile or a list of errors, each naming the
// file, a line inside the file (or none, for a key that is absent) and a message. The seed is in the
// test name; TOOLCELL_FUZZ_SEED replays a failure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { describeProfileError } from '../../../src/profile/profile.js';
import { FUZZ_SEED, Prng } from '../../helpers/fuzz.js';
import { PROFILES } from '../../helpers/paths.js';

const ROUNDS = 3000;
const FILE = 'fuzzed.toml';

const corpus = [PROFILES, join(PROFILES, 'examples')].flatMap((dir) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.toml'))
    .map((n) => readFileSync(join(dir, n), 'utf8')),
);

/** Values and fragments an attacker or a careless admin might type. */
const TOKENS = [
  '"', "'", '"""', "'''", '[', ']', '[[', ']]', '{', '}', '=', ',', '.', '#', '\\', '\n', '\r\n', '\0', '\t',
  '""', '"/"', '"/etc/shadow"', '"/proc"', '"../../etc"', '"/usr:/"', '"/tmp:0"', '"/tmp:99999999999G"', '"-rf"', '"{x}"', '"{{"', '"{"', '"{a}{b}"',
  '-1', '0', '1e999', '-0', 'inf', 'nan', '+inf', '0x10', '0o7', '0b2', '9223372036854775808', '1979-05-27T07:32:00Z', 'true', 'false',
  '"\\uD800"', '"\\u0000"', '"\\x"', '"é€𝄞"', `"${'x'.repeat(10_000)}"`, '"0.0.0.0/0:1-65535"', '"[::]:0"', '"a:b:c"', '"999.1.1.1:80"',
  '[]', '{}', '[1, "a", {}]', `${'['.repeat(2000)}${']'.repeat(2000)}`, `${'{ a = '.repeat(500)}1${' }'.repeat(500)}`,
  '"@mount"', '"@nosuch"', '"kill"', '"errno"', '"log"', '"unshare"',
];
const KEYS = [
  'description', 'command', 'cwd', 'env', 'pty', 'log_arguments', 'allow_leading_dash', 'input', 'input.type', 'input.properties.x',
  'identity.user', 'filesystem.read_only', 'filesystem.writable', 'filesystem.tmpfs', 'network.allow', 'network.allow_any',
  'callers.users', 'callers.groups', 'seccomp.action', 'seccomp.allow', 'seccomp.deny', 'secrets.TOKEN', 'secrets.F',
  'limits.timeout', 'limits.output', 'limits.memory', 'limits.memory_swap', 'limits.pids', 'limits.cpu', 'nosuch', '"quoted key"', '__proto__', 'constructor',
];

function mutate(rng: Prng, text: string): string {
  let lines = text.split('\n');
  for (let n = rng.int(1, 4); n > 0; n--) {
    const i = rng.int(0, Math.max(0, lines.length - 1));
    switch (rng.int(0, 8)) {
      case 0: // drop lines
        lines.splice(i, rng.int(1, 3));
        break;
      case 1: // duplicate a line (duplicate keys and tables)
        lines.splice(i, 0, lines[i] ?? '');
        break;
      case 2: // swap two lines (keys move between tables)
        [lines[i], lines[rng.int(0, lines.length - 1)]] = [lines[rng.int(0, lines.length - 1)] ?? '', lines[i] ?? ''];
        break;
      case 3: // replace a value
        lines[i] = (lines[i] ?? '').replace(/=.*$/, `= ${rng.pick(TOKENS)}`);
        break;
      case 4: // insert a token anywhere in a line
        {
          const l = lines[i] ?? '';
          const at = rng.int(0, l.length);
          lines[i] = l.slice(0, at) + rng.pick(TOKENS) + l.slice(at);
        }
        break;
      case 5: // a key of the schema (or not) with a hostile value
        lines.splice(i, 0, `${rng.pick(KEYS)} = ${rng.pick(TOKENS)}`);
        break;
      case 6: // random bytes, decoded as the file would be
        lines[i] = Buffer.from(rng.bytes(rng.int(1, 40))).toString('utf8');
        break;
      case 7: // truncate
        lines = lines.slice(0, i);
        break;
      default: // a table header out of place
        lines.splice(i, 0, rng.pick(['[input]', '[limits]', '[[limits]]', '[network]', '[secrets]', '[filesystem.x]', '[seccomp]', '[]', '[a.b.c]']));
    }
  }
  return lines.join('\n');
}

describe(`parseProfile under fuzzing (seed ${FUZZ_SEED}, ${ROUNDS} inputs)`, () => {
  test('never throws; every error names the file, a line within it or none, and says why', () => {
    const rng = new Prng(FUZZ_SEED);
    const outcomes = { ok: 0, errors: 0 };
    let slowest = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const source = round % 10 === 9 ? Buffer.from(rng.bytes(rng.int(0, 400))).toString('latin1') : mutate(rng, rng.pick(corpus));
      const name = rng.int(0, 20) === 0 ? rng.pick(['', 'UPPER', '-x', 'a'.repeat(65), '../x', 'ok-name']) : 'fuzzed';
      const started = performance.now();
      let r: ReturnType<typeof parseProfile>;
      try {
        r = parseProfile(name, FILE, source);
      } catch (e) {
        assert.fail(`round ${round} (seed ${FUZZ_SEED}): parseProfile threw ${(e as Error).stack}\n--- input ---\n${source.slice(0, 2000)}`);
      }
      slowest = Math.max(slowest, performance.now() - started);
      if (r.ok) {
        outcomes.ok++;
        continue;
      }
      outcomes.errors++;
      const lineCount = source.split('\n').length;
      assert.ok(r.errors.length > 0, `round ${round}: not ok, but no error`);
      for (const e of r.errors) {
        const where = `round ${round} (seed ${FUZZ_SEED}): ${JSON.stringify(e)}\n--- input ---\n${source.slice(0, 2000)}`;
        assert.equal(e.file, FILE, where);
        assert.ok(e.line === undefined || (Number.isInteger(e.line) && e.line >= 1 && e.line <= lineCount + 1), where);
        assert.equal(typeof e.key, 'string', where);
        assert.ok(typeof e.message === 'string' && e.message.trim() !== '', where);
        assert.ok(describeProfileError(e).startsWith(e.line ? `${FILE}:${e.line}: ` : `${FILE}: `), where);
      }
    }
    // Both outcomes must be exercised, or the mutations prove nothing.
    assert.ok(outcomes.ok > 0 && outcomes.errors > ROUNDS / 2, JSON.stringify(outcomes));
    assert.ok(slowest < 2000, `the slowest input took ${slowest.toFixed(0)} ms`);
    console.log(`parseProfile fuzz (seed ${FUZZ_SEED}): ${outcomes.ok} ok, ${outcomes.errors} with errors, slowest ${slowest.toFixed(1)} ms`);
  });
});
