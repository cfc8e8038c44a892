import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toBwrapCommand } from '../../../src/plan/bwrap-command.js';
import { planSandbox } from '../../../src/plan/sandbox-plan.js';
import { toSecretInputs } from '../../../src/plan/secret-args.js';
import { stripTerminalControls } from '../../../src/invocation/strip-terminal.js';
import { CUT_MARK, maskSecrets, maskTerminalOutput } from '../../../src/invocation/mask-secrets.js';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { describeProfileError } from '../../../src/profile/profile.js';

const BASE = `description = "d"
command = ["/bin/true"]
`;
const FACTS = { paths: {}, user: { name: 'tc-t', uid: 990, gid: 990 }, bwrapDisableUserns: true, ptyHelper: '/usr/lib/toolcell/native/pty-exec', execHelper: '/usr/lib/toolcell/native/sandbox-exec', resolved: {} };

function plan(secrets: string) {
  const r = parseProfile('t', 't.toml', `${BASE}[secrets]\n${secrets}\n`);
  if (!r.ok) throw new Error(r.errors.map(describeProfileError).join('\n'));
  return planSandbox(r.profile, {}, FACTS);
}

describe('secret delivery (pure)', () => {
  test('the plan names secrets, sorted, never values; argv gets --args 7 (6 is for the /etc/hosts of sandboxes with network) and no value', () => {
    const p = plan('B = "/etc/toolcell/secrets/b"\nA = { file = "/etc/toolcell/secrets/a", as = "file" }');
    assert.deepEqual(p.secrets, [
      { name: 'A', file: '/etc/toolcell/secrets/a', as: 'file' },
      { name: 'B', file: '/etc/toolcell/secrets/b', as: 'env' },
    ]);
    const argv = toBwrapCommand(p).argv;
    const i = argv.indexOf('--args');
    assert.equal(argv[i + 1], '7');
    assert.ok(i < argv.indexOf('--remount-ro'), 'file secrets are created before the root is frozen');
    const inputs = toSecretInputs(p, { A: Buffer.from('aaa'), B: Buffer.from('b b') });
    assert.deepEqual(inputs.args.toString().split('\0'), ['--perms', '0400', '--ro-bind-data', '8', '/run/secrets/A', '--setenv', 'B', 'b b', '']);
    assert.deepEqual(inputs.files.map(String), ['aaa']);
  });

  test('no secrets: no --args', () => {
    assert.equal(toBwrapCommand(planSandbox(parseProfileOk(BASE), {}, FACTS)).argv.includes('--args'), false);
  });

  test('profile errors: bad name, relative file, unknown delivery, a name also in env', () => {
    const errors = (src: string) => {
      const r = parseProfile('t', 't.toml', src);
      return r.ok ? [] : r.errors.map(describeProfileError);
    };
    assert.deepEqual(errors(`${BASE}[secrets]\n"A-B" = "/x"\n`), ['t.toml:4: secrets.A-B: secret names are letters, digits and _ (they become environment names)']);
    assert.match(errors(`${BASE}[secrets]\nA = "x"\n`)[0] ?? '', /^t\.toml:4: secrets\.A: /);
    assert.match(errors(`${BASE}[secrets]\nA = { file = "/x", as = "argv" }\n`)[0] ?? '', /^t\.toml:4: secrets\.A\.as: /);
    assert.deepEqual(errors(`${BASE}env = { A = "1" }\n[secrets]\nA = "/x"\n`), ['t.toml:5: secrets.A: A is also set in env; a secret and a plain variable cannot share a name']);
  });
});

function parseProfileOk(src: string) {
  const r = parseProfile('t', 't.toml', src);
  if (!r.ok) throw new Error('invalid');
  return r.profile;
}

describe('maskSecrets', () => {
  test('every occurrence, longest value first, empty values ignored', () => {
    const secrets = [
      { name: 'SHORT', value: 'abc' },
      { name: 'LONG', value: 'abcdef' },
      { name: 'EMPTY', value: '' },
    ];
    assert.equal(maskSecrets('abcdef abc xabcx', secrets), '[secret:LONG] [secret:SHORT] x[secret:SHORT]x');
    assert.equal(maskSecrets('nothing here', secrets), 'nothing here');
  });

  test('output the cap cut: as many characters as the longest secret has go from its end, whatever they are (a mask only where they began a secret would confirm a guess)', () => {
    const secrets = [
      { name: 'KEY', value: 'sk-live-ABCDEFGH' },
      { name: 'PIN', value: '1234' },
    ];
    const pad = 'p'.repeat(40);
    for (let n = 1; n < 16; n++) {
      // A start of the secret, and the same length of something else: both come back alike.
      assert.equal(maskSecrets(`${pad}${'sk-live-ABCDEFGH'.slice(0, n)}`, secrets, true), `${pad.slice(0, 40 + n - 16)}${CUT_MARK}`, `cut after ${n}`);
      assert.equal(maskSecrets(`${pad}${'x'.repeat(n)}`, secrets, true), `${pad.slice(0, 40 + n - 16)}${CUT_MARK}`, `guess of ${n}`);
    }
    // Whole secrets before the end are masked as ever; shorter text than a secret is withheld whole.
    assert.equal(maskSecrets(`1234 ${'q'.repeat(20)}`, secrets, true), `[secret:PIN] ${'q'.repeat(4)}${CUT_MARK}`);
    assert.equal(maskSecrets('short', secrets, true), CUT_MARK);
    // Not cut, or no secrets: nothing withheld.
    assert.equal(maskSecrets('pad sk-l', secrets), 'pad sk-l');
    assert.equal(maskSecrets('pad sk-l', [], true), 'pad sk-l');
  });

  test('on a terminal: a secret with a control character, or a line end the terminal wrote as CRLF, is masked still', () => {
    const secrets = [
      { name: 'CRLF', value: 'tok-1\r' },
      { name: 'LINES', value: 'line-a\nline-b' },
    ];
    // What the terminal made of `echo "$CRLF"; printf '%s' "$LINES"`, in colour.
    const written = '\x1b[32mtok-1\r\r\n\x1b[0mline-a\r\nline-b';
    assert.equal(maskTerminalOutput(written, secrets), '[secret:CRLF]\n[secret:LINES]');
    // Stripped first, the one with a control character is no longer whole; masked only before, the
    // other would not be.
    assert.equal(maskSecrets(stripTerminalControls(written), secrets), 'tok-1\n[secret:LINES]');
    assert.equal(stripTerminalControls(maskSecrets(written, secrets)), '[secret:CRLF]\nline-a\nline-b');
  });

  test('on a terminal: a secret inside a longer one is masked as the longer one, colours or not', () => {
    const secrets = [
      { name: 'URL', value: 'postgres://app:hunter2@db' },
      { name: 'PASS', value: 'hunter2' },
    ];
    assert.equal(maskTerminalOutput('postgres://app:\x1b[1mhunter2\x1b[0m@db and hunter2', secrets), '[secret:URL] and [secret:PASS]');
  });
});
