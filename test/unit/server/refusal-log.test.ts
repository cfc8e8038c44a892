// Refusal lines are bounded per uid: a caller refused in a loop cannot flood the log (and, past
// journald's rate limit, get every line of the daemon dropped, other callers' audit records too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { REFUSAL_LINES_PER_WINDOW, REFUSAL_WINDOW_MS, RefusalLog } from '../../../src/server/refusal-log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info', base: undefined, timestamp: false }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { logger, lines };
}

test(`the first ${REFUSAL_LINES_PER_WINDOW} refusals of a kind for a uid in ${REFUSAL_WINDOW_MS / 1000} s are written, the rest summed up at the window's end; other kinds and uids are counted apart`, (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { logger, lines } = capture();
  const refusals = new RefusalLog(logger);
  // Connections refused in a loop first: they do not use up the lines of refused arguments.
  for (let i = 0; i < 500; i++) refusals.write(1001, 'connection', logger, 'warn', { n: i }, 'connection refused');
  refusals.write(1001, 'arguments python', logger, 'warn', { n: 0 }, 'call refused: invalid arguments');
  refusals.write(1002, 'connection', logger, 'info', { n: 0 }, 'connection refused');
  assert.equal(lines.length, REFUSAL_LINES_PER_WINDOW + 2);
  assert.deepEqual(lines.slice(-2), [
    { level: 40, n: 0, msg: 'call refused: invalid arguments' },
    { level: 30, n: 0, msg: 'connection refused' },
  ]);
  t.mock.timers.tick(REFUSAL_WINDOW_MS);
  const more = 500 - REFUSAL_LINES_PER_WINDOW;
  assert.deepEqual(lines.slice(REFUSAL_LINES_PER_WINDOW + 2), [
    { level: 40, caller: { uid: 1001 }, refusal: 'connection', suppressed: more, windowMs: REFUSAL_WINDOW_MS, msg: `refusals not logged: ${more} more of "connection" for uid 1001` },
  ]);
  // A new window: written again.
  refusals.write(1001, 'connection', logger, 'warn', { n: 500 }, 'connection refused');
  assert.deepEqual(lines.at(-1), { level: 40, n: 500, msg: 'connection refused' });
});

test('flush sums up the windows still open (the daemon stops)', () => {
  const { logger, lines } = capture();
  const refusals = new RefusalLog(logger);
  for (let i = 0; i < REFUSAL_LINES_PER_WINDOW + 3; i++) refusals.write(7, 'limit shell', logger, 'info', {}, 'call refused by a limit');
  refusals.flush();
  assert.equal(lines.at(-1)!.msg, 'refusals not logged: 3 more of "limit shell" for uid 7');
  refusals.flush();
  assert.equal(lines.length, REFUSAL_LINES_PER_WINDOW + 1, 'nothing twice');
});
