// Invocation cgroups: one per call, below the daemon's own cgroup, made and joined by run-as before
// the sandbox's first process starts, and killed and removed at teardown. Mechanism only; the
// limits come from plan/cgroup-limits. Both hierarchies: cgroup v2 (the daemon's delegated
// subtree, systemd Delegate=yes) and the legacy v1 controllers (memory, pids, cpu, cpuacct).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, write, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Pidfd } from '../../native/libc.js';
import type { CgroupLimits } from '../plan/cgroup-limits.js';
import { toV1Writes, toV2Writes } from '../plan/cgroup-limits.js';
import { OWNER, ownerAlive } from './process-owner.js';

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

export type CgroupSetup =
  | { readonly mode: 'v1'; readonly parents: Readonly<Record<V1Controller, string>> }
  | { readonly mode: 'v2'; readonly parent: string }
  | { readonly mode: 'none'; readonly why: string };

const V2_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
const CGROUP2_ROOT = '/sys/fs/cgroup';

const PARENT = 'toolcell';

/** Invocation cgroups are named OWNER-ID (see process-owner). */
export const CGROUP_OWNER = OWNER;

/**
 * Whether `name` is an invocation cgroup (OWNER-N) whose daemon is gone. Anything else is not
 * ours to sweep: with `cgroup_root` the parent may be a slice (or the root) that other cgroups
 * share, and sweeping kills what is in a cgroup.
 */
function staleInvocationCgroup(name: string): boolean {
  const m = /^(\d+)\.(\d+)-\d+$/.exec(name);
  return m !== null && !ownerAlive(m[1]!, m[2]!);
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

/** Where the v1 parent of invocation cgroups goes in each hierarchy without `cgroup_root`: below our own cgroup. */
function defaultV1Parent(c: V1Controller, own: Partial<Record<V1Controller, string>>): string | undefined {
  return own[c] === undefined ? undefined : join(`/sys/fs/cgroup/${c}`, own[c], PARENT);
}

/**
 * The v1 parents a daemon started from this process would make (detectCgroups without a root),
 * whether they exist yet or not; for test runs and benchmarks, which remove those they caused.
 */
export function defaultV1ParentDirs(): string[] {
  const own = ownV1Paths();
  return V1_CONTROLLERS.map((c) => defaultV1Parent(c, own)).filter((d): d is string => d !== undefined);
}

/** The unified hierarchy is the only one: /proc/self/cgroup has just "0::/path". */
function ownV2Path(): string | undefined {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean);
  const unified = lines.find((l) => l.startsWith('0::'));
  const v1Bound = lines.some((l) => !l.startsWith('0::') && V1_CONTROLLERS.some((c) => l.split(':')[1]?.split(',').includes(c)));
  return unified && !v1Bound && existsSync(join(CGROUP2_ROOT, 'cgroup.controllers')) ? unified.slice(3) : undefined;
}

/**
 * Finds where invocation cgroups go and makes that parent. By default only below the daemon's own
 * cgroup (it never touches a cgroup it was not given); `root` (toolcell.toml `cgroup_root`, a path
 * as /proc/self/cgroup writes them) is the admin's choice when the daemon is run by hand outside a
 * delegated unit.
 */
export function detectCgroups(root?: string): CgroupSetup {
  if (root !== undefined && (!root.startsWith('/') || root.split('/').includes('..'))) {
    return { mode: 'none', why: `cgroup_root ${JSON.stringify(root)}: expected an absolute cgroup path without ".."` };
  }
  const v2 = ownV2Path();
  if (v2 === undefined) return detectV1(root);
  return root === undefined ? detectV2(v2) : v2Parent(join(CGROUP2_ROOT, root), `cgroup_root ${root}`);
}

const V2_ENABLE = V2_CONTROLLERS.map((c) => `+${c}`).join(' ');

function detectV2(own: string): CgroupSetup {
  const base = join(CGROUP2_ROOT, own);
  const missing = missingV2Controllers(base);
  if (missing.length > 0) return { mode: 'none', why: `cgroup v2: controllers ${missing.join(', ')} are not delegated to ${base} (run under systemd with Delegate=yes, or set cgroup_root)` };
  try {
    if (own !== '/') {
      // The no-internal-process rule: a cgroup that hands controllers to children may hold no
      // process itself, so the daemon first moves into a leaf of its own subtree.
      const leaf = join(base, 'daemon');
      if (!existsSync(leaf)) writeDir(leaf);
      writeFileSync(join(leaf, 'cgroup.procs'), String(process.pid));
    }
    writeFileSync(join(base, 'cgroup.subtree_control'), V2_ENABLE);
  } catch (e) {
    const busy = (e as NodeJS.ErrnoException).code === 'EBUSY' ? ' (other processes share the daemon\'s cgroup; run it as a service with Delegate=yes, or set cgroup_root)' : '';
    return { mode: 'none', why: `cgroup v2 at ${base}: ${(e as Error).message}${busy}` };
  }
  return v2Parent(join(base, PARENT), base);
}

function missingV2Controllers(dir: string): string[] {
  const available = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  return V2_CONTROLLERS.filter((c) => !available.includes(c));
}

/** The v2 parent of invocation cgroups: created when missing, with memory, pids and cpu handed to its children. */
function v2Parent(parent: string, what: string): CgroupSetup {
  try {
    if (!existsSync(parent)) writeDir(parent);
    const missing = missingV2Controllers(parent);
    if (missing.length > 0) return { mode: 'none', why: `${what}: controllers ${missing.join(', ')} are not enabled in ${join(parent, '..', 'cgroup.subtree_control')}` };
    writeFileSync(join(parent, 'cgroup.subtree_control'), V2_ENABLE);
    return { mode: 'v2', parent };
  } catch (e) {
    const busy = (e as NodeJS.ErrnoException).code === 'EBUSY' ? ' (processes live in it; invocation cgroups need a parent without processes of its own)' : '';
    return { mode: 'none', why: `${what}: ${parent}: ${(e as Error).message}${busy}` };
  }
}

function detectV1(root: string | undefined): CgroupSetup {
  const own = ownV1Paths();
  const missing = V1_CONTROLLERS.filter((c) => own[c] === undefined || !existsSync(`/sys/fs/cgroup/${c}`));
  if (missing.length > 0) {
    return { mode: 'none', why: `neither a cgroup v2 hierarchy nor cgroup v1 hierarchies for ${missing.join(', ')}` };
  }
  const parents = {} as Record<V1Controller, string>;
  try {
    for (const c of V1_CONTROLLERS) {
      // v1 hierarchies need no controller hand-over, so a configured root may be several levels deep.
      const dir = root === undefined ? defaultV1Parent(c, own)! : join(`/sys/fs/cgroup/${c}`, root);
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
      // Co-mounted controllers (systemd mounts cpu,cpuacct together; /sys/fs/cgroup/cpu and
      // /sys/fs/cgroup/cpuacct are symlinks to it) share one directory: the same real path.
      parents[c] = realpathSync(dir);
    }
  } catch (e) {
    return { mode: 'none', why: `cannot create cgroups${root === undefined ? '' : ` at cgroup_root ${root}`}: ${(e as Error).message}` };
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

/** One step of run-as's before it drops to the tool's user (see native/run-as.c). */
export type CgroupStep =
  | { readonly op: 'mkdir'; readonly path: string }
  | { readonly op: 'write'; readonly path: string; readonly value: string; readonly ifPresent: boolean }
  | { readonly op: 'join'; readonly path: string };

export interface InvocationCgroup {
  /**
   * How run-as makes it, as root, before it drops to the tool's user and execs bwrap: a directory
   * per hierarchy, the limits, then a join of each, so every process of the sandbox starts inside
   * its limits. Nothing exists before run-as has run these.
   */
  readonly steps: readonly CgroupStep[];
  usage(): CgroupUsage;
  /** rmdir, retried while the kernel still counts a process that is gone; kills nothing. */
  remove(): Promise<void>;
  /**
   * Kills what is left and removes the cgroup. After a sandbox nothing is left as a rule (its pid
   * 1 is reaped, and its pid namespace died with it), so it tries rmdir first and reads the
   * cgroup's processes only when that is refused.
   */
  dispose(): Promise<void>;
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

/**
 * One directory per v1 hierarchy: controllers mounted together (cpu,cpuacct) have the same one,
 * which is made, joined and removed once (a second mkdir would fail with EEXIST).
 */
export function v1Hierarchies(dirs: V1Dirs): string[] {
  return [...new Set(Object.values(dirs))];
}

type ActiveSetup = Exclude<CgroupSetup, { mode: 'none' }>;

/** Where one invocation's cgroup lives: one directory (v2) or one per controller (v1). */
interface Layout {
  readonly dirs: readonly string[];
  /** v2's cgroup.kill: the kernel kills every process in the cgroup at once. */
  readonly killFile?: string;
  usage(): CgroupUsage;
}

function layoutFor(setup: ActiveSetup, id: string): Layout {
  if (setup.mode === 'v2') {
    const dir = join(setup.parent, id);
    return {
      dirs: [dir],
      killFile: join(dir, 'cgroup.kill'),
      usage: () => {
        const usec = readKey(join(dir, 'cpu.stat'), 'usage_usec');
        return {
          peakMemoryBytes: readNumber(join(dir, 'memory.peak')),
          cpuTimeMs: Math.round(usec / 100) / 10,
          pidsLimitHits: readKey(join(dir, 'pids.events'), 'max'),
          peakPids: readNumber(join(dir, 'pids.peak')),
          oomKills: readKey(join(dir, 'memory.events'), 'oom_kill'),
        };
      },
    };
  }
  const dirs = Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(setup.parents[c], id)])) as V1Dirs;
  return {
    dirs: v1Hierarchies(dirs),
    usage: () => {
      const cpuNs = readNumber(join(dirs.cpuacct, 'cpuacct.usage'));
      return {
        peakMemoryBytes: readNumber(join(dirs.memory, 'memory.max_usage_in_bytes')),
        cpuTimeMs: cpuNs === null ? null : Math.round(cpuNs / 1e5) / 10,
        pidsLimitHits: readKey(join(dirs.pids, 'pids.events'), 'max'),
        peakPids: readNumber(join(dirs.pids, 'pids.peak')),
        oomKills: readKey(join(dirs.memory, 'memory.oom_control'), 'oom_kill'),
      };
    },
  };
}

/** The file a limit is written to, in this setup. */
function limitFile(setup: ActiveSetup, id: string, controller: string, file: string): string {
  return setup.mode === 'v2' ? join(setup.parent, id, file) : join(setup.parents[controller as V1Controller], id, file);
}

/**
 * rmdir and writes to cgroup.kill take the kernel's cgroup mutex, which a move of a whole process
 * (run-as joining a v2 cgroup, any other process's move) holds while it waits for an RCU grace
 * period (tens of ms on a busy host):
 * they run on the worker pool, never on the event loop, which would stall every call meanwhile.
 */
function writeOffLoop(file: string, value: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = openSync(file, 'w');
    } catch (e) {
      return reject(e as Error);
    }
    // One request on the pool (fs/promises' writeFile takes three, and a FileHandle).
    write(fd, value, (err) => {
      closeSync(fd);
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * Invocation cgroups are named OWNER-N, N the lowest number this daemon has free, not after the
 * invocation: the kernel keeps a dentry for every name removed from a cgroup directory (four per
 * call with cgroup v1), reclaimed only under memory pressure. 2.5 million of them (some 600,000
 * calls) slowed every path lookup on the host: bare bwrap went from 178 to 138 per second.
 * A name is taken again only after its cgroup was removed, so no cgroup is ever reused.
 */
class CgroupNames {
  private readonly used = new Set<number>();

  take(): number {
    let n = 0;
    while (this.used.has(n)) n++;
    this.used.add(n);
    return n;
  }

  free(n: number): void {
    this.used.delete(n);
  }
}

const names = new CgroupNames();

/**
 * Takes a name for one invocation's cgroup and says how run-as makes it (its steps). The daemon
 * makes nothing itself: a cgroup mkdir waits for the kernel's cgroup mutex, so each one was a
 * request to the worker pool and back (four per call with cgroup v1), and the limits' writes were
 * system calls on the event loop; in run-as they cost the daemon nothing. dispose() removes
 * whatever run-as made, also when it stopped half-way.
 */
export function reserveInvocationCgroup(setup: ActiveSetup, limits: CgroupLimits): InvocationCgroup {
  const n = names.take();
  const id = `${CGROUP_OWNER}-${n}`;
  const layout = layoutFor(setup, id);
  const steps: CgroupStep[] = [
    ...layout.dirs.map((path) => ({ op: 'mkdir' as const, path })),
    ...(setup.mode === 'v2' ? toV2Writes(limits) : toV1Writes(limits)).map((w) => ({ op: 'write' as const, path: limitFile(setup, id, w.controller, w.file), value: w.value, ifPresent: w.optional === true })),
    // A v1 hierarchy is joined through `tasks`, where run-as moves its one thread without the
    // kernel's global threadgroup lock and the RCU grace period its write side waits for under
    // the cgroup mutex (see native/run-as.c); v2 has only cgroup.procs.
    ...layout.dirs.map((dir) => ({ op: 'join' as const, path: join(dir, setup.mode === 'v1' ? 'tasks' : 'cgroup.procs') })),
  ];
  return { steps, ...handle(id, layout, () => names.free(n)) };
}

function handle(id: string, layout: Layout, removed?: () => void): Omit<InvocationCgroup, 'steps'> {
  const procs = () => {
    const pids = new Set<number>();
    for (const dir of layout.dirs) {
      try {
        for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        // removed already
      }
    }
    return pids;
  };
  /** SIGKILL to every process left, until none is (bounded). */
  const killAll = async () => {
    if (layout.killFile && existsSync(layout.killFile)) await writeOffLoop(layout.killFile, '1');
    // Every pid listed is in a cgroup this daemon created, so it is one of a sandbox's processes.
    // The sandbox's pid 1 may still be exiting (a bwrap killed before it reaped its pid 1) where
    // nobody waited for it: the daemon does (sandbox.gone), a caller that is no subreaper cannot.
    // So the first waits are short (1, 2, 4, 8 ms), then 10 ms each.
    for (let round = 0; round < 100; round++) {
      const left = procs();
      if (left.size === 0) return;
      if (!layout.killFile) {
        // A pid read from cgroup.procs may name an unrelated process by the time it is signalled
        // (the listed one exited, its pid was reused). So each is pinned by a pidfd first and
        // signalled only if still listed: a pinned process that is listed is in this cgroup; a
        // listed pid whose pinned process is gone is some new process, and its pidfd signals none.
        const pinned = [...left].map((pid) => [pid, Pidfd.open(pid)] as const);
        const listed = procs();
        for (const [pid, pidfd] of pinned) {
          if (listed.has(pid)) pidfd?.kill();
          pidfd?.close();
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(2 ** round, 10)));
    }
    throw new Error(`processes still in cgroup ${id} after 100 kill rounds`);
  };
  // EBUSY while the kernel still counts a process that is gone: retried for up to half a second.
  const remove = async () => {
    for (const dir of layout.dirs) {
      for (let attempt = 1; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          if (attempt === 50) throw new Error(`cannot remove ${dir}: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    removed?.();
  };
  return {
    usage: layout.usage,
    remove,
    async dispose() {
      const refused = await Promise.all(layout.dirs.map((dir) => rmdir(dir).then(() => false, (e: NodeJS.ErrnoException) => e.code !== 'ENOENT')));
      if (!refused.includes(true)) return removed?.();
      await killAll();
      await remove();
    },
  };
}

/** The directories invocation cgroups are created in: one for v2, one per v1 hierarchy. */
export function cgroupParentDirs(setup: CgroupSetup): string[] {
  if (setup.mode === 'none') return [];
  return setup.mode === 'v2' ? [setup.parent] : v1Hierarchies(setup.parents);
}

/** Invocation cgroups of daemons that are gone (crashed): kill what is in them, remove them. */
export async function sweepStaleCgroups(setup: CgroupSetup): Promise<string[]> {
  if (setup.mode === 'none') return [];
  const stale = new Set<string>();
  for (const parent of cgroupParentDirs(setup)) {
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (entry.isDirectory() && staleInvocationCgroup(entry.name)) stale.add(entry.name);
    }
  }
  for (const id of stale) {
    await handle(id, layoutFor(setup, id)).dispose();
  }
  return [...stale];
}

let setup: CgroupSetup | undefined;

/**
 * The host's cgroup setup, detected once per process: the daemon calls it first with its
 * configured root, and every later caller gets that answer.
 */
export function cgroupSetup(root?: string): CgroupSetup {
  setup ??= detectCgroups(root);
  return setup;
}
