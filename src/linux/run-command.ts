// Runs a system program (ip for the host's routes and addresses, getent and id for users,
// shadow-utils): posix_spawn, a fixed PATH and no environment of the daemon's, nothing on stdin,
// bounded in time, and an error that names the step and what the program said.
import type { Readable } from 'node:stream';
import { spawnProcess, type SpawnedProcess } from './spawn-process.js';

/** What every system program toolcell runs gets: the sbin paths, and nothing of the daemon's environment. */
export const SYSTEM_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
const TIMEOUT_MS = 10_000;

export class CommandError extends Error {
  constructor(
    readonly step: string,
    readonly stderr: string,
    readonly status: number | null,
  ) {
    super(`${step}: ${stderr.trim().split('\n').slice(-3).join('; ') || `exit status ${status}`}`);
  }
}

export async function runCommand(step: string, file: string, args: readonly string[]): Promise<string> {
  let child: SpawnedProcess;
  try {
    child = await spawnProcess(file, args, { env: SYSTEM_ENV, stdio: ['null', 'read', 'read'], timeoutMs: TIMEOUT_MS });
  } catch (e) {
    throw new CommandError(step, (e as Error).message, null);
  }
  const [, out, err] = child.streams as [undefined, Readable, Readable];
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  err.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return child.exited.then(({ code, signal }) => {
    if (code === 0) return stdout;
    throw new CommandError(step, signal ? `${stderr}killed by ${signal}` : stderr, code);
  });
}
