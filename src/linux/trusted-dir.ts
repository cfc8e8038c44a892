// Directories the daemon trusts with root's authority: its tools directory (profiles name users to
// create and root-only files to read as secrets) and its socket's directory (it sets the socket's
// owner and mode by path). Whoever may write such a directory, or replace one on the way to it,
// could put their own profile or a symlink there.
import { existsSync, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

const STICKY = 0o1000;

const failure = (path: string, e: unknown) => `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;

/** Who besides root (and this process's user) could change `path`: its owner, its group or everyone. */
function otherWriter(path: string, st: Stats, what: string, stickyWriteOk = false): string | undefined {
  if (st.uid !== 0 && st.uid !== (process.getuid?.() ?? 0)) return `${path} is owned by uid ${st.uid}, who could change ${what}`;
  if ((st.mode & 0o022) === 0 || (stickyWriteOk && (st.mode & STICKY) !== 0)) return undefined;
  return `${path} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`;
}

/** Why `dir` is not safe to trust, or undefined when only root (or this process's user) can change it. */
export function untrustedDirReason(dir: string): string | undefined {
  let real: string;
  try {
    // The path as the kernel resolves it: a symlink on the way leads to directories of their own.
    real = realpathSync(dir);
  } catch (e) {
    return failure(dir, e);
  }
  for (let d = real, last = true; ; d = dirname(d), last = false) {
    let st;
    try {
      st = statSync(d);
    } catch (e) {
      return failure(d, e);
    }
    if (!st.isDirectory()) return `${d} is not a directory`;
    // A sticky directory above (as /tmp) lets no one else rename or remove what root made in it.
    const why = otherWriter(d, st, 'what is in it', !last);
    if (why) return why;
    if (d === '/') return undefined;
  }
}

/**
 * Why the file `file` is not safe to trust, or undefined: a regular file owned by root (or this
 * process's user) and written by its owner alone; a symlink is judged by where it leads, the
 * directories on the way to it included.
 */
export function untrustedFileReason(file: string): string | undefined {
  let target = file;
  try {
    if (lstatSync(file).isSymbolicLink()) {
      target = realpathSync(file);
      const dir = untrustedDirReason(dirname(target));
      if (dir) return `it leads to ${target}, and ${dir}`;
    }
    const st = statSync(target);
    return st.isFile() ? otherWriter(target, st, 'it') : `${target} is not a regular file`;
  } catch (e) {
    return failure(target, e);
  }
}

/**
 * What is wrong with trusting `dir` as the directory of the profiles ("DIR: why; ..."), or
 * undefined. One that does not exist is loadProfiles' to report: it is served as empty.
 */
export function untrustedToolsDir(dir: string): string | undefined {
  const why = existsSync(dir) ? untrustedDirReason(dir) : undefined;
  return why && `${dir}: ${why}; only root may change the directory of the profiles`;
}
