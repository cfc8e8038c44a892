import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stripTerminalControls } from '../../../src/invocation/strip-terminal.js';
import { EXEC_HELPER_DEST, planSandbox, PTY_HELPER_DEST } from '../../../src/plan/sandbox-plan.js';
import { toBwrapCommand } from '../../../src/plan/bwrap-command.js';
import { profileFrom } from '../../helpers/fixtures.js';

describe('stripTerminalControls', () => {
  const ROWS: [string, string, string][] = [
    ['colours', '\x1b[1;31mred\x1b[0m plain', 'red plain'],
    ['CRLF', 'a\r\nb\r\r\n', 'a\nb\n'],
    ['cursor moves and erase', '\x1b[2J\x1b[H\x1b[?25lhi\x1b[K', 'hi'],
    ['window title (OSC, BEL and ST ends)', '\x1b]0;title\x07x\x1b]2;t\x1b\\y', 'xy'],
    ['charset switch and lone escapes', '\x1b(Bok\x1b=', 'ok'],
    ['other control characters, tabs kept', 'a\x07b\x08c\td\x00', 'abc\td'],
    ['plain text untouched', 'héllo wörld\n', 'héllo wörld\n'],
    ['8-bit CSI (U+009B)', 'a\u009b31mRED\u009b0m', 'aRED'],
    ['8-bit OSC (U+009D), BEL, ESC \\ and U+009C ends', '\u009d0;title\u009cx\u009d2;t\x07y\u009d2;t\x1b\\z', 'xyz'],
    ['other C1 controls dropped', 'a\u0085b\u0090c\u009f', 'abc'],
    ['non-ASCII text untouched', 'é 日本 🙂 \u00a0\u00ff\n', 'é 日本 🙂 \u00a0\u00ff\n'],
    ['an OSC that nothing ends loses only its opener', 'a\x1b]0;b\nc\u009dd', 'a0;b\ncd'],
    ['an ESC inside an OSC ends it and starts its own sequence', '\x1b]0;t\x1b[31mred', 'red'],
    ['a lone ESC before a line end keeps the line end', 'a\x1b\nb\x1b', 'a\nb'],
    ['an ESC before an emoji takes all of it, not half a surrogate pair', 'a\x1b🙂b', 'ab'],
  ];
  for (const [name, input, output] of ROWS) test(name, () => assert.equal(stripTerminalControls(input), output));

  test('linear on hostile output: 128 Ki openers of every kind', () => {
    for (const opener of ['\u009d', '\x1b]', '\u009b', '\x1b[', '\x1b', '\r']) {
      const text = opener.repeat(Math.floor((1 << 17) / opener.length));
      const started = performance.now();
      const out = stripTerminalControls(text);
      const ms = performance.now() - started;
      assert.equal(out, '', JSON.stringify(opener));
      // A quadratic pass takes over 10 s here (and minutes on a full output cap); a linear one a
      // few milliseconds.
      assert.ok(ms < 1000, `${JSON.stringify(opener)}: ${ms.toFixed(0)} ms`);
    }
  });
});

describe('pty plan', () => {
  test('pty-exec is bound read-only and is what sandbox-exec runs', () => {
    const p = profileFrom('t', 'description = "d"\ncommand = ["/usr/bin/top", "-b"]\npty = true\n');
    const plan = planSandbox(p, {}, { paths: {}, user: { name: 'tc-t', uid: 990, gid: 990 }, bwrapDisableUserns: true, ptyHelper: '/opt/h/pty-exec', execHelper: '/opt/h/sandbox-exec', resolved: {} });
    assert.deepEqual(plan.argv, [PTY_HELPER_DEST, '--', '/usr/bin/top', '-b']);
    const argv = toBwrapCommand(plan).argv;
    const i = argv.indexOf('/opt/h/pty-exec');
    assert.deepEqual(argv.slice(i - 1, i + 2), ['--ro-bind', '/opt/h/pty-exec', PTY_HELPER_DEST]);
    assert.deepEqual(argv.slice(argv.indexOf('--') + 1), [EXEC_HELPER_DEST]);
  });
});
