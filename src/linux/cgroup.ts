// Invocation cgroups: one per call, below the daemon's own cgroup in each hierarchy, created before
// the sandbox is released and killed and removed at teardown. Mechanism only; the limits come
// from plan/cgroup-limits. This version drives the legacy v1 hierarchy (memory, pids, cpu,
// cpuacct); on a pure v2 host it reports itself unavailable and calls run without limits.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLimits } from '../plan/cgroup-limits.js';
import { toV1Writes } from '../plan/cgroup-limits.js';

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

export type CgroupSetup =
  | { readonly mode: 'v1'; readonly parents: Readonly<Record<V1Controller, string>> }
  | { readonly mode: 'none'; readonly why: string };

const PARENT = 'toolcell';

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Invocation cgroups are named OWNER-ID, OWNER being the daemon's pid and start time: several
 * daemons (tests, a second instance) can share the parent, and a sweep removes only the cgroups of
 * daemons that are gone, never a live one's.
 */
export const CGROUP_OWNER = `${process.pid}.${startTime(process.pid) ?? '0'}`;

function ownerAlive(name: string): boolean {
  const m = /^(\d+)\.(\d+)-/.exec(name);
  if (!m) return false;
  return startTime(Number(m[1])) === m[2];
}

/** Our own cgroup path in each v1 hierarchy, from /proc/self/cgroup ("4:memory:/a/b"). */
function ownV1Paths(): Partial<Record<V1Controller, string>> {
  const out: Partial<Record<V1Controller, string>> = {};
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    for (const c of controllers.split(',')) if ((V1_CONTROLLERS as readonly string[]).includes(c)) out[c as V1Controller] = path;
  }
  return out;
}

/**
 * Finds where invocation cgroups go and makes the "toolcell" parent in each hierarchy. Only below
 * the daemon's own cgroup: it never touches a cgroup it was not given.
 */
export function detectCgroups(): CgroupSetup {
  const own = ownV1Paths();
  const missing = V1_CONTROLLERS.filter((c) => own[c] === undefined || !existsSync(`/sys/fs/cgroup/${c}`));
  if (missing.length > 0) {
    return { mode: 'none', why: `no cgroup v1 hierarchy for ${missing.join(', ')} (cgroup v2 is not supported by this version yet)` };
  }
  const parents = {} as Record<V1Controller, string>;
  try {
    for (const c of V1_CONTROLLERS) {
      const dir = join(`/sys/fs/cgroup/${c}`, own[c]!, PARENT);
      if (!existsSync(dir)) writeDir(dir);
      parents[c] = dir;
    }
  } catch (e) {
    return { mode: 'none', why: `cannot create cgroups: ${(e as Error).message}` };
  }
  return { mode: 'v1', parents };
}

/** mkdir(2) in a cgroup file system creates the cgroup. */
function writeDir(dir: string): void {
  mkdirSync(dir);
}

export interface CgroupUsage {
  readonly peakMemoryBytes: number | null;
  readonly cpuTimeMs: number | null;
  /** Times the kernel refused a fork at pids.max. */
  readonly pidsLimitHits: number;
  readonly peakPids: number | null;
  /** Processes the OOM killer killed in this cgroup. */
  readonly oomKills: number;
}

export interface InvocationCgroup {
  /** Moves a process (and so everything it forks from now on) into every hierarchy. */
  place(pid: number): void;
  usage(): CgroupUsage;
  /** SIGKILL to every process left, until none is (bounded). */
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

const readNumber = (file: string): number | null => {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
};
const readKey = (file: string, key: string): number => {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

type V1Dirs = Readonly<Record<V1Controller, string>>;

function dirsFor(setup: Extract<CgroupSetup, { mode: 'v1' }>, id: string): V1Dirs {
  return Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(setup.parents[c], id)])) as V1Dirs;
}

export function createInvocationCgroup(setup: Extract<CgroupSetup, { mode: 'v1' }>, invocationId: string, limits: CgroupLimits): InvocationCgroup {
  const id = `${CGROUP_OWNER}-${invocationId}`;
  const dirs = dirsFor(setup, id);
  const created: string[] = [];
  try {
    for (const c of V1_CONTROLLERS) {
      writeDir(dirs[c]);
      created.push(dirs[c]);
    }
    for (const w of toV1Writes(limits)) {
      const file = join(dirs[w.controller as V1Controller], w.file);
      if (w.optional && !existsSync(file)) continue;
      writeFileSync(file, w.value);
    }
  } catch (e) {
    for (const dir of created.reverse()) rmdirQuiet(dir);
    throw new Error(`creating cgroup ${id}: ${(e as Error).message}`);
  }
  return handle(id, dirs);
}

function handle(id: string, dirs: V1Dirs): InvocationCgroup {
  const procs = () => {
    const pids = new Set<number>();
    for (const c of V1_CONTROLLERS) {
      try {
        for (const p of readFileSync(join(dirs[c], 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        // removed already
      }
    }
    return pids;
  };
  return {
    place(pid) {
      for (const c of V1_CONTROLLERS) writeFileSync(join(dirs[c], 'cgroup.procs'), String(pid));
    },
    usage() {
      const cpuNs = readNumber(join(dirs.cpuacct, 'cpuacct.usage'));
      return {
        peakMemoryBytes: readNumber(join(dirs.memory, 'memory.max_usage_in_bytes')),
        cpuTimeMs: cpuNs === null ? null : Math.round(cpuNs / 1e5) / 10,
        pidsLimitHits: readKey(join(dirs.pids, 'pids.events'), 'max'),
        peakPids: readNumber(join(dirs.pids, 'pids.peak')),
        oomKills: readKey(join(dirs.memory, 'memory.oom_control'), 'oom_kill'),
      };
    },
    async killAll() {
      // Every pid listed is in a cgroup this daemon created, so it is one of a sandbox's processes.
      for (let round = 0; round < 100; round++) {
        const left = procs();
        if (left.size === 0) return;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`processes still in cgroup ${id} after 100 kill rounds`);
    },
    async remove() {
      for (const c of V1_CONTROLLERS) {
        for (let attempt = 0; attempt < 50 && existsSync(dirs[c]); attempt++) {
          if (rmdirQuiet(dirs[c])) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        if (existsSync(dirs[c])) throw new Error(`cannot remove ${dirs[c]}`);
      }
    },
  };
}

function rmdirQuiet(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Invocation cgroups of daemons that are gone (crashed): kill what is in them, remove them. */
export async function sweepStaleCgroups(setup: CgroupSetup): Promise<string[]> {
  if (setup.mode !== 'v1') return [];
  const stale = new Set<string>();
  for (const c of V1_CONTROLLERS) {
    for (const entry of readdirSync(setup.parents[c], { withFileTypes: true })) {
      if (entry.isDirectory() && !ownerAlive(entry.name)) stale.add(entry.name);
    }
  }
  for (const id of stale) {
    const cg = handle(id, dirsFor(setup, id));
    await cg.killAll();
    await cg.remove();
  }
  return [...stale];
}

let setup: CgroupSetup | undefined;

/** The host's cgroup setup, detected once per process. */
export function cgroupSetup(): CgroupSetup {
  setup ??= detectCgroups();
  return setup;
}
