// Starts bwrap as the sandbox user and exposes its control points: the sandbox pid (from
// --info-fd), the release (a byte on --block-fd), the argv for sandbox-exec (its stdin), the output
// streams, kill and exit. No policy here.
import type { Readable } from 'node:stream';
import { Pidfd } from '../../native/libc.js';
import { boundedWait } from './bounded-wait.js';
import type { BwrapCommand } from '../plan/bwrap-command.js';
import type { SandboxUser } from '../plan/host-facts.js';
import type { CgroupStep } from './cgroup.js';
import { awaitAdopted, SpawnError, spawnProcess, type ChildExit } from './spawn-process.js';
import type { PipeWriter } from './pipe-writer.js';

export type SandboxExit = ChildExit;

export interface SandboxProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves with the sandbox's pid 1 (host pid), or undefined if bwrap exited before it. */
  readonly started: Promise<number | undefined>;
  /** Resolves once bwrap has exited and its output streams are closed. */
  readonly exited: Promise<SandboxExit>;
  /**
   * Resolves once the sandbox's pid 1 is gone too: bwrap reaps it before it exits, unless bwrap
   * was killed first; then the daemon (a subreaper) reaps it (see becomeChildSubreaper).
   */
  readonly gone: Promise<void>;
  /** Lets the held sandbox start sandbox-exec, which then waits for its argv. */
  release(): void;
  /** Hands sandbox-exec the tool's argv (encoded by encodeArgv); it execs the tool at once. */
  run(argv: Buffer): void;
  /** SIGKILL to the sandbox's pid 1 (and so its whole pid namespace), then to bwrap. */
  kill(): Promise<void>;
}

export { SpawnError };

/** bwrap writes the sandbox pid right after clone; this bounds the wait for it when killing. */
const INFO_WAIT_MS = 2_000;

function readInfo(stream: Readable, exited: Promise<unknown>): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const done = (pid: number | undefined) => {
      stream.removeAllListeners('data');
      resolve(pid);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 4096) return done(undefined);
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m) done(Number(m[1]));
    });
    stream.on('error', () => done(undefined));
    void exited.then(() => done(undefined));
  });
}

/** bwrap's descriptors 0-4 are stdin, stdout, stderr and the two control pipes. */
const FIRST_INPUT_FD = 5;

/**
 * `inputs` are written to descriptors 5, 6, ... of bwrap and closed (filter, secret arguments and
 * data); bwrap reads them during setup and closes them before the tool runs. bwrap starts in the
 * cgroup that run-as makes and joins with `cgroup` (InvocationCgroup.steps).
 */
export async function spawnSandbox(cmd: BwrapCommand, user: SandboxUser, inputs: readonly (Buffer | undefined)[] = [], cgroup: readonly CgroupStep[] = []): Promise<SandboxProcess> {
  if (cmd.fds.info !== 3 || cmd.fds.block !== 4) throw new SpawnError('control fds must be 3 (info) and 4 (block)');
  // bwrap starts as the tool's uid/gid with no supplementary groups (run-as drops them), so it
  // never holds root; it builds the sandbox in a user namespace of its own. Its own session:
  // a Ctrl-C meant for the daemon's terminal must reach the daemon (which then tears down in
  // order), not the sandboxes behind its back.
  const child = await spawnProcess(cmd.file, cmd.argv, {
    user,
    cgroup,
    env: cmd.env,
    stdio: ['write', 'read', 'read', 'read', 'write', ...inputs.map((d) => (d === undefined ? ('null' as const) : ('write' as const)))],
  });
  const exited = child.exited;
  inputs.forEach((data, i) => {
    if (data === undefined) return;
    (child.streams[FIRST_INPUT_FD + i] as PipeWriter).end(data);
  });
  const argvPipe = child.streams[0] as PipeWriter;
  const info = child.streams[3] as Readable;
  const block = child.streams[4] as PipeWriter;
  // The pidfd is opened while the sandbox is held at --block-fd, so it names that process and no
  // later one that reuses its pid.
  let pidfd: Pidfd | undefined;
  const started = readInfo(info, exited).then((pid) => {
    if (pid !== undefined && !ended) pidfd = Pidfd.open(pid);
    return pid;
  });
  let ended = false;
  // Not behind the drained pipes: a capped output is not read again until the sandbox is gone.
  const gone = child.reaped
    .then(async () => {
      ended = true;
      if (pidfd) await awaitAdopted(pidfd);
    })
    // Only an unexpected waitid error lands here; the teardown still goes on, bounded by its own wait.
    .catch(() => undefined)
    .finally(() => pidfd?.close());
  return {
    stdout: child.streams[1] as Readable,
    stderr: child.streams[2] as Readable,
    started,
    exited,
    gone,
    release: () => {
      block.end('x');
    },
    run: (argv) => {
      argvPipe.end(argv);
    },
    kill: async () => {
      // Ordering: killing only bwrap can land before its child has armed --die-with-parent, which
      // would orphan a held or running sandbox. So wait (briefly) to learn the sandbox's pid 1, kill
      // it first (a pid namespace dies with its init), then bwrap.
      await boundedWait(started, INFO_WAIT_MS);
      pidfd?.kill();
      child.kill();
    },
  };
}
