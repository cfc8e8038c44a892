// Golden files: checked-in expected output that a policy change must update on purpose, so that
// the change shows in review. UPDATE_GOLDEN=1 rewrites them instead of comparing.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from './paths.js';

export const GOLDEN_DIR = join(ROOT, 'test', 'golden');

export const updatingGolden = (): boolean => process.env.UPDATE_GOLDEN === '1';

/** Compares text with test/golden/<name>, or writes it there when UPDATE_GOLDEN=1. */
export function checkGolden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, name);
  if (updatingGolden()) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch (e) {
    assert.fail(`golden file ${file} cannot be read (${(e as Error).message}); run with UPDATE_GOLDEN=1 to create it`);
  }
  assert.equal(actual, expected, `${file} differs; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff`);
}
