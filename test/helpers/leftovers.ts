// What a stopped or killed daemon may have left on the host, looked up directly in /proc, the cgroup
// tree and the file system: processes and files of given uids, invocation cgroups of a daemon pid,
// mounts of sandboxes. Tests assert each list is empty, with a bounded wait where the kernel frees
// things in the background.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cgroupParentDirs, type CgroupSetup } from '../../src/linux/cgroup.js';

/** /proc/PID/status of every process whose real or effective uid is one of `uids`. */
function statusesOfUids(uids: ReadonlySet<number>): { pid: string; status: string }[] {
  const found: { pid: string; status: string }[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      const [real, effective] = (/^Uid:\s+(\d+)\s+(\d+)/m.exec(status) ?? []).slice(1).map(Number);
      if (uids.has(real!) || uids.has(effective!)) found.push({ pid, status });
    } catch {
      // exited (or was reaped) meanwhile
    }
  }
  return found;
}

const field = (status: string, name: string) => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(status)?.[1] ?? '?';
const isZombie = (status: string) => /^State:\s+Z/m.test(status);

/** Processes whose real or effective uid is one of `uids`, but for zombies: pid, command and uid. */
export function livingOfUids(uids: ReadonlySet<number>): { pid: string; name: string; uid: string }[] {
  // A zombie has released everything but its pid: only its parent can reap it, and it is not running.
  return statusesOfUids(uids)
    .filter((p) => !isZombie(p.status))
    .map((p) => ({ pid: p.pid, name: field(p.status, 'Name'), uid: field(p.status, 'Uid') }));
}

/** Host pids whose real or effective uid is one of `uids`, with their command, for a message. */
export function processesOfUids(uids: ReadonlySet<number>): string[] {
  return livingOfUids(uids).map((p) => `${p.pid} ${p.name} (uid ${p.uid})`);
}

/** Exited processes of one of `uids` that nobody has reaped yet, with their parent, for a message. */
export function zombiesOfUids(uids: ReadonlySet<number>): string[] {
  return statusesOfUids(uids)
    .filter((p) => isZombie(p.status))
    .map((p) => `${p.pid} ${field(p.status, 'Name')} (uid ${field(p.status, 'Uid')}, parent ${field(p.status, 'PPid')})`);
}

/** The invocation cgroups (one directory per hierarchy in v1) of the daemon with this pid. */
export function invocationCgroupsOf(setup: CgroupSetup | undefined, daemonPid: number): string[] {
  if (!setup || setup.mode === 'none') return [];
  return cgroupParentDirs(setup).flatMap((dir) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${daemonPid}.`)).map((n) => `${dir}/${n}`) : []));
}

/** Host mount table lines that belong to a sandbox (bwrap builds its root under "newroot"). */
export function sandboxMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => /newroot|bwrap/.test(l));
}

/** Files owned by one of `uids` under the host's scratch directories (a sandbox wrote outside itself). */
export function scratchFilesOfUids(uids: ReadonlySet<number>, dirs: readonly string[] = ['/tmp', '/var/tmp', '/dev/shm', '/run']): string[] {
  const uidTests = [...uids].flatMap((u, i) => (i === 0 ? ['-uid', String(u)] : ['-o', '-uid', String(u)]));
  const r = spawnSync('find', [...dirs, '-xdev', '(', ...uidTests, ')', '-print'], { encoding: 'utf8', timeout: 20_000 });
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** The uid of a user by name, from the passwd database. */
export function uidOf(user: string): number {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const uid = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isInteger(uid)) throw new Error(`no user ${user}`);
  return uid;
}
