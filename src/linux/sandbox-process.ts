// Starts bwrap as the sandbox user and exposes its control points: the sandbox pid (from
// --info-fd), the release (a byte on --block-fd), the argv for sandbox-exec (its stdin), the output
// streams, kill and exit. No policy here.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Pidfd } from '../../native/libc.js';
import type { BwrapCommand } from '../plan/bwrap-command.js';
import type { SandboxUser } from '../plan/host-facts.js';

export interface SandboxExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SandboxProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves with the sandbox's pid 1 (host pid), or undefined if bwrap exited before it. */
  readonly started: Promise<number | undefined>;
  /** Resolves once bwrap has exited and its output streams are closed. */
  readonly exited: Promise<SandboxExit>;
  /** Lets the held sandbox start sandbox-exec, which then waits for its argv. */
  release(): void;
  /** Hands sandbox-exec the tool's argv (encoded by encodeArgv); it execs the tool at once. */
  run(argv: Buffer): void;
  /** SIGKILL to the sandbox's pid 1 (and so its whole pid namespace), then to bwrap. */
  kill(): Promise<void>;
}

export class SpawnError extends Error {}

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
 * data); bwrap reads them during setup and closes them before the tool runs.
 */
export function spawnSandbox(cmd: BwrapCommand, user: SandboxUser, inputs: readonly (Buffer | undefined)[] = []): SandboxProcess {
  if (cmd.fds.info !== 3 || cmd.fds.block !== 4) throw new SpawnError('control fds must be 3 (info) and 4 (block)');
  let child: ChildProcess;
  try {
    // Privilege transition: bwrap starts as the tool's uid/gid (libuv clears the supplementary
    // groups), so it never holds root; it builds the sandbox in a user namespace of its own.
    child = spawn(cmd.file, [...cmd.argv], {
      uid: user.uid,
      gid: user.gid,
      env: { ...cmd.env },
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', ...inputs.map((d) => (d === undefined ? ('ignore' as const) : ('pipe' as const)))],
      // Its own session and process group: a Ctrl-C meant for the daemon's terminal must reach the
      // daemon (which then tears down in order), not the sandboxes behind its back.
      detached: true,
    });
  } catch (e) {
    throw new SpawnError(`spawn ${cmd.file} as uid ${user.uid}: ${(e as Error).message}`);
  }
  const exited = new Promise<SandboxExit>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  inputs.forEach((data, i) => {
    if (data === undefined) return;
    const fd = child.stdio[FIRST_INPUT_FD + i] as Writable;
    fd.on('error', () => {});
    fd.end(data);
  });
  const argvPipe = child.stdin!;
  argvPipe.on('error', () => {});
  const info = child.stdio[3] as Readable;
  const block = child.stdio[4] as Writable;
  block.on('error', () => {});
  info.on('error', () => {});
  // The pidfd is opened while the sandbox is held at --block-fd, so it names that process and no
  // later one that reuses its pid.
  let pidfd: Pidfd | undefined;
  const started = readInfo(info, exited).then((pid) => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) pidfd = Pidfd.open(pid);
    return pid;
  });
  void exited.then(() => pidfd?.close());
  return {
    stdout: child.stdout!,
    stderr: child.stderr!,
    started,
    exited,
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
      await Promise.race([started, new Promise((r) => setTimeout(r, INFO_WAIT_MS).unref())]);
      pidfd?.kill();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
