#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test. As root, the bundled
// tools' users (tc-*) and the client group are created first with `toolcell users sync`, and
// whatever this run created is removed again at the end. So two runs on one machine must not
// overlap (the first to end would delete the users the other still runs as): a second run stops
// at once with a message while the first holds the lock.
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cgroupParentsCleanup, TEST_RUN_ENV } from '../dist/test/helpers/cgroup-parents.js';

const root = new URL('..', import.meta.url).pathname;
const SYSTEM_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

function entries(db) {
  const r = spawnSync('getent', [db], { env: SYSTEM_ENV, encoding: 'utf8' });
  return new Set(r.stdout.split('\n').map((l) => l.split(':')[0]).filter(Boolean));
}

const LOCK = join(tmpdir(), 'toolcell-run-tests.lock');

/** The pid in the lock file if that process is still a test run, else undefined. */
function holder() {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('run-tests') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock, or exits if another run holds it; a lock left by a run that is gone is taken over. */
function lock() {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(LOCK, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const pid = holder();
    if (pid !== undefined) {
      console.error(`run-tests: another test run (pid ${pid}) is under way; runs share the tc- users and cgroups, so wait for it to end (lock: ${LOCK})`);
      process.exit(1);
    }
    rmSync(LOCK, { force: true });
  }
  console.error(`run-tests: could not take the lock ${LOCK}`);
  process.exit(1);
}

lock();
const only = process.argv.slice(2);
const files = walk(join(root, 'dist/test'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const asRoot = process.getuid() === 0;
const removeCgroupParents = cgroupParentsCleanup('run-tests');
const usersBefore = asRoot ? entries('passwd') : new Set();
const groupsBefore = asRoot ? entries('group') : new Set();
if (asRoot) {
  const sync = spawnSync(process.execPath, [join(root, 'bin/toolcell.js'), 'users', 'sync', '--tools', join(root, 'profiles')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (sync.status !== 0) console.error('run-tests: toolcell users sync failed; the e2e tests will show why');
}

let status = 1;
try {
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd: root, env: { ...process.env, [TEST_RUN_ENV]: String(process.pid) } });
  status = r.status ?? 1;
} finally {
  if (asRoot) {
    for (const user of entries('passwd')) {
      if (!usersBefore.has(user) && user.startsWith('tc-')) spawnSync('userdel', ['--', user], { env: SYSTEM_ENV });
    }
    // The daemons this run started created these; remove them.
    removeCgroupParents();
    for (const group of entries('group')) {
      if (!groupsBefore.has(group) && (group.startsWith('tc-') || group === 'toolcell')) spawnSync('groupdel', ['--', group], { env: SYSTEM_ENV });
    }
  }
  rmSync(LOCK, { force: true });
}
process.exit(status);
