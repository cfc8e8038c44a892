// The "toolcell" parent cgroups that daemons started from this process create below this process's
// own cgroup, one per v1 hierarchy (src/linux/cgroup.ts's defaultV1ParentDirs; v1 only: the
// machines the tests and benchmarks run on here have cgroup v1). A daemon leaves its parent in
// place when it stops, since another daemon of the same cgroup may be about to create an
// invocation cgroup in it; a test run or a bench, which knows its daemons have all stopped, removes
// the parents it caused.
import { existsSync, rmdirSync } from 'node:fs';
import { defaultV1ParentDirs } from '../../src/linux/cgroup.js';

/** Set by scripts/run-tests.js for its test files: the run removes the parents once all its daemons have stopped. */
export const TEST_RUN_ENV = 'TOOLCELL_TEST_RUN';

/**
 * Call before the daemons start; the function it returns, called once they have all stopped,
 * removes the parents that were not there before, and reports on stderr as `who` those it could
 * not remove (rmdir fails while a cgroup below is in use). Inside a test run it leaves them to the
 * run: a test file running beside this one may have a daemon that is about to use them.
 */
export function cgroupParentsCleanup(who: string): () => void {
  const before = defaultV1ParentDirs().filter((p) => existsSync(p));
  return () => {
    if (process.env[TEST_RUN_ENV] !== undefined) return;
    for (const dir of defaultV1ParentDirs()) {
      if (before.includes(dir) || !existsSync(dir)) continue;
      try {
        rmdirSync(dir);
      } catch (e) {
        process.stderr.write(`${who}: could not remove ${dir}: ${(e as Error).message}\n`);
      }
    }
  };
}
