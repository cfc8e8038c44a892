// posix_spawn(3) and pipe2(2) through koffi: how the daemon starts processes without
// forking itself. Node's child_process forks the whole daemon (libuv's fork, then exec): the page
// tables of ~100 MiB are copied on the event loop, 3-4 ms per spawn and growing with the heap.
// glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK): nothing is copied, whatever the daemon's
// size. It runs on a worker thread: CLONE_VFORK suspends the calling thread until the child has
// exec'd, 0.3 ms on an idle machine but 2 ms and more when both cores are busy (measured: a
// fifth of the event loop's time at 16 concurrent calls). Loaded lazily so that pure code and
// unit tests never need the FFI.
import { closeSync } from 'node:fs';
import koffi from 'koffi';

interface Spawn {
  pipe2: (fds: number[], flags: number) => number;
  fcntl: (fd: number, cmd: number, ...arg: unknown[]) => number;
  faInit: (fa: Buffer) => number;
  faDestroy: (fa: Buffer) => number;
  faDup2: (fa: Buffer, fd: number, newfd: number) => number;
  faCloseFrom: (fa: Buffer, from: number) => number;
  faChdir: (fa: Buffer, path: string) => number;
  attrInit: (attr: Buffer) => number;
  attrDestroy: (attr: Buffer) => number;
  attrSetFlags: (attr: Buffer, flags: number) => number;
  attrSetSigDefault: (attr: Buffer, set: Buffer) => number;
  attrSetSigMask: (attr: Buffer, set: Buffer) => number;
  sigfillset: (set: Buffer) => number;
  sigemptyset: (set: Buffer) => number;
  posixSpawn: { async(pid: Buffer, path: string, fa: Buffer, attr: Buffer, argv: (string | null)[], envp: (string | null)[], done: (err: unknown, rc: number) => void): void };
}

let api: Spawn | undefined;

function load(): Spawn {
  if (!api) {
    const lib = koffi.load('libc.so.6');
    const f = <T>(decl: string) => lib.func(decl) as unknown as T;
    api = {
      pipe2: f('int pipe2(_Out_ int *fds, int flags)'),
      fcntl: f('int fcntl(int fd, int cmd, ...)'),
      faInit: f('int posix_spawn_file_actions_init(void *fa)'),
      faDestroy: f('int posix_spawn_file_actions_destroy(void *fa)'),
      faDup2: f('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
      faCloseFrom: f('int posix_spawn_file_actions_addclosefrom_np(void *fa, int from)'),
      faChdir: f('int posix_spawn_file_actions_addchdir_np(void *fa, const char *path)'),
      attrInit: f('int posix_spawnattr_init(void *attr)'),
      attrDestroy: f('int posix_spawnattr_destroy(void *attr)'),
      attrSetFlags: f('int posix_spawnattr_setflags(void *attr, short flags)'),
      attrSetSigDefault: f('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
      attrSetSigMask: f('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
      sigfillset: f('int sigfillset(void *set)'),
      sigemptyset: f('int sigemptyset(void *set)'),
      posixSpawn: f('int posix_spawn(void *pid, const char *path, const void *fa, const void *attr, const char **argv, const char **envp)'),
    };
  }
  return api;
}

const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const F_SETFL = 4;
// glibc's values (spawn.h): reset every signal to its default (Node ignores SIGPIPE, and an
// ignored signal stays ignored across exec), an empty mask, and a session of the child's own.
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
// Opaque glibc types, allocated generously: posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128.
const FA_SIZE = 256;
const ATTR_SIZE = 1024;
const SIGSET_SIZE = 128;

/**
 * A pipe, both ends close-on-exec: [read end, write end]. `nonBlockingWrite`: the write end only
 * is non-blocking (the flag belongs to the open file, which a child's copy of the read end would
 * share).
 */
export function pipe(nonBlockingWrite = false): [number, number] {
  const fds = [-1, -1];
  const api = load();
  if (api.pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2 failed (errno ${koffi.errno()})`);
  if (nonBlockingWrite && api.fcntl(fds[1]!, F_SETFL, 'int', O_NONBLOCK) !== 0) {
    const errno = koffi.errno();
    for (const fd of fds) closeSync(fd);
    throw new Error(`fcntl(O_NONBLOCK) failed (errno ${errno})`);
  }
  return [fds[0]!, fds[1]!];
}

/**
 * Starts `path` with `argv` and `env`, in `cwd`, in a session of its own, with `fds[i]` as its
 * descriptor i and no other descriptor of the daemon. Resolves with its pid once it has exec'd.
 * The descriptors in `fds` must stay open until then.
 */
export function posixSpawn(path: string, argv: readonly string[], env: Readonly<Record<string, string>>, fds: readonly number[], cwd: string): Promise<number> {
  const c = load();
  const fa = Buffer.alloc(FA_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  const pid = Buffer.alloc(4);
  if (c.faInit(fa) !== 0 || c.attrInit(attr) !== 0) return Promise.reject(new Error('posix_spawn: cannot initialise its attributes'));
  const destroy = () => {
    c.faDestroy(fa);
    c.attrDestroy(attr);
  };
  try {
    c.sigfillset(all);
    c.sigemptyset(none);
    // Through numbers above every source and target first, so that placing descriptor i never
    // overwrites a source still to be placed (a source may itself be a small number).
    const base = Math.max(fds.length, ...fds) + 1;
    const step = (rc: number, what: string) => {
      if (rc !== 0) throw new Error(`posix_spawn_file_actions_${what} failed (error ${rc})`);
    };
    fds.forEach((fd, i) => step(c.faDup2(fa, fd, base + i), `adddup2(${fd}, ${base + i})`));
    fds.forEach((_, i) => step(c.faDup2(fa, base + i, i), `adddup2(${base + i}, ${i})`));
    // Then every other descriptor closed in the child, whatever its close-on-exec flag: libraries
    // open some without it (libmnl's netlink socket under libnftables), and other threads of the
    // daemon may open one at any moment while this spawn runs on its own.
    step(c.faCloseFrom(fa, fds.length), `addclosefrom_np(${fds.length})`);
    step(c.faChdir(fa, cwd), `addchdir_np(${cwd})`);
    if (c.attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID) !== 0) throw new Error('posix_spawnattr_setflags failed');
    c.attrSetSigDefault(attr, all);
    c.attrSetSigMask(attr, none);
  } catch (e) {
    destroy();
    return Promise.reject(e as Error);
  }
  const envp = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve, reject) => {
    c.posixSpawn.async(pid, path, fa, attr, [...argv, null], [...envp, null], (err, rc) => {
      destroy();
      // posix_spawn returns the error number itself (exec failures included, with CLONE_VFORK).
      if (err) reject(err as Error);
      else if (rc !== 0) reject(Object.assign(new Error(`posix_spawn ${path}: errno ${rc}`), { errno: rc }));
      else resolve(pid.readInt32LE(0));
    });
  });
}
