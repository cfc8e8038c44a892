// Secret files: root-owned, unreadable by group and others, regular, small. Opened with O_NOFOLLOW
// and checked on the open descriptor, so a path swapped between check and read changes nothing.
// (Node opens every file close-on-exec, so the descriptor never reaches a sandbox.)
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export const MAX_SECRET_BYTES = 64 * 1024;

export class SecretError extends Error {}

/** Checks the file and, when `read` is set, returns its value (one trailing newline dropped). */
export async function openSecret(path: string, read: boolean): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SecretError(code === 'ELOOP' ? `${path} is a symlink (refused)` : `${path}: cannot open (${code ?? (e as Error).message})`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new SecretError(`${path} is not a regular file`);
    if (st.uid !== 0) throw new SecretError(`${path} is owned by uid ${st.uid}, not root`);
    if ((st.mode & 0o077) !== 0) {
      throw new SecretError(`${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); make it 0600 or 0400, owned by root`);
    }
    if (st.size > MAX_SECRET_BYTES) throw new SecretError(`${path} is larger than ${MAX_SECRET_BYTES} bytes`);
    if (!read) return undefined;
    const value = await handle.readFile();
    if (value.includes(0)) throw new SecretError(`${path} contains a NUL byte`);
    return value.at(-1) === 0x0a ? value.subarray(0, -1) : value;
  } finally {
    await handle.close();
  }
}
