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

test(`the first ${REFUSAL_LINES_PER_WINDOW} refusals of a uid in ${REFUSAL_WINDOW_MS / 1000} s are written, the rest summed up at the window's end; other uids are counted apart`, (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { logger, lines } = capture();
  const refusals = new RefusalLog(logger);
  for (let i = 0; i < 500; i++) refusals.write(1001, logger, 'warn', { n: i }, 'call refused: invalid arguments');
  refusals.write(1002, logger, 'info', { n: 0 }, 'call refused by a limit');
  assert.equal(lines.length, REFUSAL_LINES_PER_WINDOW + 1);
  assert.deepEqual(lines.at(-1), { level: 30, n: 0, msg: 'call refused by a limit' });
  t.mock.timers.tick(REFUSAL_WINDOW_MS);
  assert.deepEqual(lines.slice(REFUSAL_LINES_PER_WINDOW + 1), [
    { level: 40, caller: { uid: 1001 }, suppressed: 500 - REFUSAL_LINES_PER_WINDOW, windowMs: REFUSAL_WINDOW_MS, msg: `refusals not logged: ${500 - REFUSAL_LINES_PER_WINDOW} more for uid 1001` },
  ]);
  // A new window: written again.
  refusals.write(1001, logger, 'warn', { n: 500 }, 'call refused: invalid arguments');
  assert.deepEqual(lines.at(-1), { level: 40, n: 500, msg: 'call refused: invalid arguments' });
});
