// The "toolcell" parent cgroups that daemons started from this process create below this process's
// own cgroup, one per v1 hierarchy, as src/linux/cgroup.ts's detectCgroups makes them (v1 only:
// the machines the tests and benchmarks run on here have cgroup v1). A daemon
// leaves its parent in place when it stops, since another daemon of the same cgroup may be about to
// create an invocation cgroup in it; a test run or a bench, which knows its daemons have all
// stopped, removes the parents it caused.
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'];

/** Where a daemon started from this process puts its parent cgroups, whether they exist yet or not. */
function toolcellCgroupParents(): string[] {
  const parents: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    for (const c of controllers.split(',')) {
      if (V1_CONTROLLERS.includes(c)) parents.push(join('/sys/fs/cgroup', c, path, 'toolcell'));
    }
  }
  return parents;
}

/** Set by scripts/run-tests.js for its test files: the run removes the parents once all its daemons have stopped. */
export const TEST_RUN_ENV = 'TOOLCELL_TEST_RUN';

/**
 * Call before the daemons start; the function it returns, called once they have all stopped,
 * removes the parents that were not there before, and reports on stderr as `who` those it could
 * not remove (rmdir fails while a cgroup below is in use). Inside a test run it leaves them to the
 * run: a test file running beside this one may have a daemon that is about to use them.
 */
export function cgroupParentsCleanup(who: string): () => void {
  const before = toolcellCgroupParents().filter((p) => existsSync(p));
  return () => {
    if (process.env[TEST_RUN_ENV] !== undefined) return;
    for (const dir of toolcellCgroupParents()) {
      if (before.includes(dir) || !existsSync(dir)) continue;
      try {
        rmdirSync(dir);
      } catch (e) {
        process.stderr.write(`${who}: could not remove ${dir}: ${(e as Error).message}\n`);
      }
    }
  };
}
