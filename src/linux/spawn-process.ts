// Starting a process without forking the daemon (posix_spawn through native/spawn.ts), with the
// parent's ends of its pipes as Node streams, a pidfd to kill it by, and its exit reaped through
// that pidfd. libuv reaps only the children it started itself, so this module reaps its own: on
// every SIGCHLD, each of its live children is asked with waitid(P_PIDFD, WNOHANG).
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Pidfd } from '../../native/libc.js';
import { pipe, posixSpawn } from '../../native/spawn.js';
import type { CgroupStep } from './cgroup.js';
import { PipeWriter } from './pipe-writer.js';

/** How long the output pipes of a reaped child may stay open before this side closes them. */
export const DRAIN_AFTER_REAP_MS = 2_000;

/** Built by scripts/setup.sh from native/run-as.c: drops to the tool's uid and gid, then execs. */
export const RUN_AS = fileURLToPath(new URL('../../native/run-as', import.meta.url));

/** What the child gets as descriptor i: a pipe it writes to, one it reads from, /dev/null, or a descriptor of the daemon. */
export type StdioSpec = 'read' | 'write' | 'null' | { readonly fd: number };

export interface SpawnOptions {
  readonly stdio: readonly StdioSpec[];
  readonly env?: Readonly<Record<string, string>>;
  /** Run as this user (through run-as); without it, as the daemon. */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** What run-as does, as root, before it drops to `user` (needs `user`): make, limit and join a cgroup. */
  readonly cgroup?: readonly CgroupStep[];
  /** SIGKILL after this long. */
  readonly timeoutMs?: number;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnedProcess {
  readonly pid: number;
  /**
   * The daemon's end per descriptor: a Readable for 'read' (the child writes), a PipeWriter for
   * 'write' (written once; closed, written or not, once the child is reaped).
   */
  readonly streams: readonly (Readable | PipeWriter | undefined)[];
  /** Once the child is reaped, whether or not its pipes are drained. */
  readonly reaped: Promise<ChildExit>;
  /** Once the child is reaped and every pipe it wrote to is drained and closed. */
  readonly exited: Promise<ChildExit>;
  /** SIGKILL through the pidfd: never a later process that reuses the pid. */
  kill(): void;
}

export class SpawnError extends Error {}

const live = new Map<Pidfd, (exit: ChildExit) => void>();
/** Processes the daemon may have adopted (see becomeChildSubreaper), each until it is gone. */
const adopted = new Map<Pidfd, () => void>();
let listening = false;
/**
 * Node's signal handles do not keep the event loop alive: without this, a command that waits only
 * for its child (toolcell run) could see the loop empty out after the child's pipes closed and
 * before its SIGCHLD is handled. It also reaps, once a second, whatever a signal might have missed.
 */
let keepAlive: NodeJS.Timeout | undefined;
const KEEPALIVE_MS = 1_000;

/** Reaps one child of ours if it has exited (or was reaped already); whether it has. */
function reapOne(pidfd: Pidfd): boolean {
  const done = live.get(pidfd);
  if (!done) return true;
  const exit = pidfd.reap();
  if (!exit) return false;
  live.delete(pidfd);
  pidfd.close();
  done({ code: exit.code, signal: exit.signal === null ? null : signalName(exit.signal) });
  return true;
}

/**
 * SIGCHLD goes to the thread that started the child, a worker-pool thread here (posix_spawn runs
 * there), which takes it only when it leaves what it is in: another spawn's wait for its child to
 * exec, a mkdir waiting for the cgroup mutex. Back to back at concurrency 1, 1% of the signals
 * waited 10 ms and more for it. A child whose pipes have all closed is exiting, so it is looked for
 * at once and then after 1, 2, 4, ... ms, until the signal or one of these finds it.
 */
const AFTER_EOF_MS = [1, 2, 4, 8, 16, 32, 64];

function reapSoon(pidfd: Pidfd, step = 0): void {
  if (reapOne(pidfd) || step === AFTER_EOF_MS.length) return;
  setTimeout(() => reapSoon(pidfd, step + 1), AFTER_EOF_MS[step]).unref();
}

function reapAll(): void {
  for (const pidfd of live.keys()) reapOne(pidfd);
  for (const [pidfd, done] of adopted) {
    if (pidfd.reapAdopted() === 'running') continue;
    adopted.delete(pidfd);
    done();
  }
  if (live.size === 0 && adopted.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

function listen(): void {
  if (!listening) {
    process.on('SIGCHLD', reapAll);
    listening = true;
  }
}

/**
 * Resolves once the process behind `pidfd` is gone: reaped here if the daemon has adopted it (a
 * sandbox's pid 1 whose bwrap was killed before it reaped it), at once if it is no child of the
 * daemon.
 */
export function awaitAdopted(pidfd: Pidfd): Promise<void> {
  if (pidfd.reapAdopted() === 'gone') return Promise.resolve();
  listen();
  keepAlive ??= setInterval(reapAll, KEEPALIVE_MS);
  return new Promise((resolve) => adopted.set(pidfd, resolve));
}

function runAsArgs(step: CgroupStep): string[] {
  if (step.op === 'mkdir') return ['--mkdir', step.path];
  if (step.op === 'join') return ['--cgroup', step.path];
  return [step.ifPresent ? '--write-if-present' : '--write', step.path, step.value];
}

function signalName(n: number): NodeJS.Signals | null {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null;
}

export async function spawnProcess(file: string, args: readonly string[], opts: SpawnOptions): Promise<SpawnedProcess> {
  if (opts.cgroup?.length && !opts.user) throw new SpawnError(`spawn ${file}: cgroups are joined by run-as, which needs a user`);
  listen();
  const parentEnds: (number | undefined)[] = [];
  const childEnds: number[] = [];
  const closeAfterSpawn: number[] = [];
  try {
    for (const spec of opts.stdio) {
      if (spec === 'read' || spec === 'write') {
        const [r, w] = pipe(spec === 'write');
        parentEnds.push(spec === 'read' ? r : w);
        childEnds.push(spec === 'read' ? w : r);
        closeAfterSpawn.push(spec === 'read' ? w : r);
      } else if (spec === 'null') {
        const fd = openSync('/dev/null', 'r+');
        parentEnds.push(undefined);
        childEnds.push(fd);
        closeAfterSpawn.push(fd);
      } else {
        parentEnds.push(undefined);
        childEnds.push(spec.fd);
      }
    }
  } catch (e) {
    for (const fd of [...closeAfterSpawn, ...parentEnds]) if (fd !== undefined) closeSync(fd);
    throw new SpawnError(`spawn ${file}: ${(e as Error).message}`);
  }

  // Privilege transition: a process for a tool starts as root only long enough for run-as to make
  // and join its cgroup and drop to the tool's uid and gid (no supplementary groups) before it
  // execs `file`.
  const steps = (opts.cgroup ?? []).flatMap(runAsArgs);
  const [path, argv] = opts.user ? [RUN_AS, [RUN_AS, String(opts.user.uid), String(opts.user.gid), ...steps, file, ...args]] : [file, [file, ...args]];
  let pid: number;
  try {
    pid = await posixSpawn(path, argv, opts.env ?? {}, childEnds, '/');
  } catch (e) {
    for (const fd of parentEnds) if (fd !== undefined) closeSync(fd);
    throw new SpawnError(`spawn ${file}${opts.user ? ` as uid ${opts.user.uid}` : ''}: ${(e as Error).message}`);
  } finally {
    for (const fd of closeAfterSpawn) closeSync(fd);
  }
  // Our own child cannot be reaped by anyone else, so the pid names it until we reap it here.
  const pidfd = Pidfd.open(pid);
  if (!pidfd) throw new SpawnError(`spawn ${file}: pid ${pid} vanished before it was reaped`);

  const readers: Socket[] = [];
  const writers: PipeWriter[] = [];
  const streams = parentEnds.map((fd, i) => {
    if (fd === undefined) return undefined;
    if (opts.stdio[i] === 'write') {
      const writer = new PipeWriter(fd);
      writers.push(writer);
      return writer;
    }
    const socket = new Socket({ fd, readable: true, writable: false });
    socket.on('error', () => undefined);
    readers.push(socket);
    return socket;
  });
  const drained = readers.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
  // A pipe never written (a ready sandbox torn down unused: its argv) would otherwise stay open.
  const reaped = new Promise<ChildExit>((resolve) => live.set(pidfd, resolve)).then((exit) => {
    for (const w of writers) w.close();
    return exit;
  });
  if (drained.length > 0) void Promise.all(drained).then(() => reapSoon(pidfd));
  keepAlive ??= setInterval(reapAll, KEEPALIVE_MS);
  // A SIGCHLD that arrived before the child was registered is not lost: look once now.
  reapAll();
  // Once the child is reaped, its output pipes close as its last processes die. One whose write
  // end lives on elsewhere (passed over a Unix socket to another call's process, or in flight in
  // a cycle of descriptors the kernel collects late) is closed on this side after a grace.
  void reaped.then(() => {
    const grace = setTimeout(() => readers.forEach((s) => s.destroy()), DRAIN_AFTER_REAP_MS).unref();
    void Promise.all(drained).then(() => clearTimeout(grace));
  });
  let done = false;
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => pidfd.kill(), opts.timeoutMs).unref();
  const exited = Promise.all([reaped, ...drained]).then(([exit]) => {
    done = true;
    clearTimeout(timer);
    return exit;
  });
  return {
    pid,
    streams,
    reaped,
    exited,
    kill: () => {
      if (!done) pidfd.kill();
    },
  };
}
