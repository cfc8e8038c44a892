// The command template is the whole defence against shell and option injection: one template
// element is one argv element, whatever a (hostile) argument contains.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ArgumentError,
  fillTemplate,
  MAX_ARG_BYTES,
  parseTemplateElement,
  placeholderNames,
  TemplateError,
  type TemplateElement,
} from '../../../src/plan/command-template.js';

const NONE: ReadonlySet<string> = new Set();

describe('parseTemplateElement', () => {
  const valid: readonly [string, TemplateElement][] = [
    ['/bin/echo', [{ text: '/bin/echo' }]],
    ['', [{ text: '' }]],
    ['{code}', [{ arg: 'code' }]],
    ['--x={a}', [{ text: '--x=' }, { arg: 'a' }]],
    ['{a}:{b}', [{ arg: 'a' }, { text: ':' }, { arg: 'b' }]],
    ['{a}{b}', [{ arg: 'a' }, { arg: 'b' }]],
    ['pre{_A9}post', [{ text: 'pre' }, { arg: '_A9' }, { text: 'post' }]],
    ['{{literal}}', [{ text: '{literal}' }]],
    ['{{{a}}}', [{ text: '{' }, { arg: 'a' }, { text: '}' }]],
    ['}}', [{ text: '}' }]],
    ['$(id) `id` *', [{ text: '$(id) `id` *' }]],
  ];
  for (const [element, parts] of valid) {
    test(`${JSON.stringify(element)} parses`, () => assert.deepEqual(parseTemplateElement(element), parts));
  }

  const invalid: readonly [string, RegExp][] = [
    ['{x', /^unclosed "\{" in "\{x"$/],
    ['--x={x', /^unclosed "\{" in "--x=\{x"$/],
    ['x}', /^unmatched "\}" in "x\}" \(write "\}\}" for a literal brace\)$/],
    ['{a}}', /^unmatched "\}"/],
    ['{}', /^bad placeholder \{\} in "\{\}"/],
    ['{a b}', /^bad placeholder \{a b\}/],
    ['{1a}', /^bad placeholder \{1a\}/],
    ['{a-b}', /^bad placeholder \{a-b\}/],
    ['{a{b}', /^bad placeholder \{a\{b\}/],
  ];
  for (const [element, message] of invalid) {
    test(`${JSON.stringify(element)} is refused`, () => {
      assert.throws(() => parseTemplateElement(element), (e: unknown) => e instanceof TemplateError && message.test(e.message));
    });
  }
});

describe('placeholderNames', () => {
  test('each name once, in order of first use', () => {
    const t = ['/bin/x', '{b}', '--a={a}', '{b}{c}'].map(parseTemplateElement);
    assert.deepEqual(placeholderNames(t), ['b', 'a', 'c']);
  });
  test('none in a literal command', () => {
    assert.deepEqual(placeholderNames(['/bin/true', '{{x}}'].map(parseTemplateElement)), []);
  });
});

const template = (...elements: string[]) => elements.map(parseTemplateElement);

/** Asserts fillTemplate throws an ArgumentError for `argument` whose message matches. */
function assertRefused(fn: () => unknown, argument: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ArgumentError, `expected ArgumentError, got ${String(e)}`);
    assert.equal(e.argument, argument);
    assert.match(e.message, message);
    return true;
  });
}

describe('fillTemplate: one element stays one argv element', () => {
  const hostile = [
    'two words',
    'a; rm -rf /',
    '$(id)',
    '`id`',
    '*',
    '/etc/*',
    'line1\nline2',
    '"double" \'single\'',
    '\\',
    '{other}',
    '',
    '   ',
    '\t\r',
    'ünïcödé 🙂',
    'a=b',
  ];
  for (const value of hostile) {
    test(`value ${JSON.stringify(value)}`, () => {
      const argv = fillTemplate(template('/bin/echo', '{v}', 'after'), { v: value }, NONE);
      assert.deepEqual(argv, ['/bin/echo', value, 'after']);
    });
  }

  test('embedded placeholder "--x={a}" stays one element', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '--x={a}'), { a: 'a b; c' }, NONE), ['/bin/x', '--x=a b; c']);
  });

  test('two placeholders in one element join into one element', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{a}:{b}'), { a: 'h o', b: 'p' }, NONE), ['/bin/x', 'h o:p']);
  });

  test('the same placeholder may be used twice', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{a}', '{a}'), { a: 'v' }, NONE), ['/bin/x', 'v', 'v']);
  });

  test('a value that looks like a placeholder is not expanded again', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{a}', '{b}'), { a: '{b}', b: 'B' }, NONE), ['/bin/x', '{b}', 'B']);
  });

  test('literal braces come out single', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{{{a}}}'), { a: 'v' }, NONE), ['/bin/x', '{v}']);
  });

  test('unused arguments are ignored', () => {
    assert.deepEqual(fillTemplate(template('/bin/true'), { a: 'x' }, NONE), ['/bin/true']);
  });
});

describe('fillTemplate: scalar values', () => {
  const rows: readonly [unknown, string][] = [
    [42, '42'],
    [0, '0'],
    [3.5, '3.5'],
    [true, 'true'],
    [false, 'false'],
  ];
  for (const [value, text] of rows) {
    test(`${String(value)} → ${JSON.stringify(text)}`, () => {
      assert.deepEqual(fillTemplate(template('/bin/x', 'n={v}'), { v: value }, NONE), ['/bin/x', `n=${text}`]);
    });
  }

  const refused: readonly [string, unknown, RegExp][] = [
    ['object', { a: 1 }, /got object$/],
    ['array', ['a', 'b'], /got object$/],
    ['null', null, /got null$/],
    ['undefined', undefined, /got undefined$/],
    ['NaN', Number.NaN, /got number$/],
    ['Infinity', Number.POSITIVE_INFINITY, /got number$/],
    ['bigint', 10n, /got bigint$/],
  ];
  for (const [what, value, message] of refused) {
    test(`${what} is refused`, () => {
      assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v: value }, NONE), 'v', message);
    });
  }
  test('the message says what a placeholder takes', () => {
    assertRefused(
      () => fillTemplate(template('/bin/x', '{v}'), { v: [] }, NONE),
      'v',
      /^argument "v": a command placeholder takes a string, number or boolean, got object$/,
    );
  });
});

describe('fillTemplate: refusals', () => {
  test('an unpaired surrogate refused (the tool would get U+FFFD, not what the schema checked); paired ones pass', () => {
    for (const v of ['a\uD800b', 'a\uDC00', '\uDBFF', '\uDC00\uD800']) {
      assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v }, NONE), 'v', /^argument "v": contains an unpaired surrogate \(not Unicode text\)$/);
    }
    assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: 'é 🙂 \uD83D\uDE00' }, NONE), ['/bin/x', 'é 🙂 😀']);
  });

  test('numbers go as written when exact; exponent forms and integers past 2^53 are refused', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: 42 }, NONE), ['/bin/x', '42']);
    assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: 0.5 }, NONE), ['/bin/x', '0.5']);
    assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: 2 ** 53 - 1 }, NONE), ['/bin/x', '9007199254740991']);
    for (const v of [1e21, 5e-324, 12345678901234567890, 2 ** 53]) {
      assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v }, NONE), 'v', /^argument "v": is a number that would be written with an exponent, or an integer past 2\^53 \(not passed exactly\); send it as a string$/);
    }
  });

  test('NUL byte refused (the kernel would cut the element short)', () => {
    assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v: 'a\0b' }, NONE), 'v', /^argument "v": contains a NUL byte$/);
  });

  const dashes = ['-', '-rf', '--help', '--output=/etc/passwd', '-c'];
  for (const value of dashes) {
    test(`leading "-" refused: ${JSON.stringify(value)}`, () => {
      assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v: value }, NONE), 'v', /^argument "v": starts with "-" \(refused/);
    });
    test(`leading "-" allowed when listed: ${JSON.stringify(value)}`, () => {
      assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: value }, new Set(['v'])), ['/bin/x', value]);
    });
  }

  test('a negative number is a leading "-" too', () => {
    assertRefused(() => fillTemplate(template('/bin/x', '{n}'), { n: -5 }, NONE), 'n', /starts with "-"/);
    assert.deepEqual(fillTemplate(template('/bin/x', '{n}'), { n: -5 }, new Set(['n'])), ['/bin/x', '-5']);
  });

  test('allowing one argument does not allow another', () => {
    assertRefused(() => fillTemplate(template('/bin/x', '{a}', '{b}'), { a: '-a', b: '-b' }, new Set(['a'])), 'b', /starts with "-"/);
  });

  test('the check is on the value, also after a text prefix ("--x={a}" with a = "-y")', () => {
    assertRefused(() => fillTemplate(template('/bin/x', '--x={a}'), { a: '-y' }, NONE), 'a', /starts with "-"/);
  });

  test('a "-" inside the value is fine', () => {
    assert.deepEqual(fillTemplate(template('/bin/x', '{v}'), { v: 'a-b --c' }, NONE), ['/bin/x', 'a-b --c']);
  });

  test('missing argument refused', () => {
    assertRefused(() => fillTemplate(template('/bin/x', '{v}'), {}, NONE), 'v', /^argument "v": is required$/);
  });

  test('a missing argument whose name is on Object.prototype is "required" too', () => {
    // `name in args` sees inherited properties: {} has "constructor" and "toString".
    assertRefused(() => fillTemplate(template('/bin/x', '{constructor}'), {}, NONE), 'constructor', /is required$/);
    assertRefused(() => fillTemplate(template('/bin/x', '{toString}'), {}, NONE), 'toString', /is required$/);
  });

  test('an element of exactly MAX_ARG_BYTES is accepted', () => {
    assert.equal(MAX_ARG_BYTES, 131071);
    const argv = fillTemplate(template('/bin/x', '{v}'), { v: 'a'.repeat(MAX_ARG_BYTES) }, NONE);
    assert.equal(argv[1]?.length, MAX_ARG_BYTES);
  });

  test('an element over MAX_ARG_BYTES is refused', () => {
    assertRefused(
      () => fillTemplate(template('/bin/x', '{v}'), { v: 'a'.repeat(MAX_ARG_BYTES + 1) }, NONE),
      'v',
      /^argument "v": is longer than 131071 bytes once placed in the command$/,
    );
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    const value = 'é'.repeat(Math.floor(MAX_ARG_BYTES / 2) + 1); // 2 bytes each
    assertRefused(() => fillTemplate(template('/bin/x', '{v}'), { v: value }, NONE), 'v', /is longer than/);
  });

  test('the limit counts the whole element: text plus every placeholder', () => {
    const half = 'a'.repeat(70_000);
    assertRefused(() => fillTemplate(template('/bin/x', '{a}={b}'), { a: half, b: half }, NONE), 'a, b', /is longer than 131071 bytes/);
  });
});
