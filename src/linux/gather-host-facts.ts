// Reads what planning needs from the host: path types, the sandbox user, bwrap's features. All of
// the probing happens here, before planning, never while an argv is being built.
import { execFile, execFileSync } from 'node:child_process';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { HostFacts, PathFact, SandboxUser } from '../plan/host-facts.js';
import type { Profile } from '../profile/profile.js';
import { BWRAP_PATH } from '../plan/bwrap-command.js';

const execFileAsync = promisify(execFile);

async function pathFact(path: string): Promise<PathFact> {
  try {
    const st = await lstat(path);
    if ((await realpath(path).catch(() => path)) === '/') return { type: 'host-root' };
    if (st.isSymbolicLink()) return { type: 'symlink', target: await readlink(path) };
    return { type: st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { type: 'missing' };
    throw e;
  }
}

const users = new Map<string, SandboxUser>();

export class UserLookupError extends Error {}

/** Resolves a user through NSS (getent), so that users from sysusers.d or LDAP both work. */
export async function lookupUser(name: string): Promise<SandboxUser> {
  const cached = users.get(name);
  if (cached) return cached;
  let out: string;
  try {
    out = (await execFileAsync('getent', ['passwd', name], { env: {} })).stdout;
  } catch {
    throw new UserLookupError(`sandbox user "${name}" does not exist (getent passwd ${name} found nothing)`);
  }
  const f = out.trim().split(':');
  const user = { name, uid: Number(f[2]), gid: Number(f[3]) };
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid)) throw new UserLookupError(`getent passwd ${name}: unreadable entry`);
  users.set(name, user);
  return user;
}

let disableUserns: boolean | undefined;

export function bwrapSupportsDisableUserns(): boolean {
  if (disableUserns === undefined) {
    const help = execFileSync(BWRAP_PATH, ['--help'], { env: {}, encoding: 'utf8' });
    disableUserns = help.includes('--disable-userns');
  }
  return disableUserns;
}

export async function gatherHostFacts(profile: Profile, userName: string): Promise<HostFacts> {
  const sources = profile.mounts.flatMap((m) => (m.kind === 'tmpfs' ? [] : [m.source]));
  const facts = await Promise.all(sources.map(pathFact));
  return {
    paths: Object.fromEntries(sources.map((s, i) => [s, facts[i]!])),
    user: await lookupUser(userName),
    bwrapDisableUserns: bwrapSupportsDisableUserns(),
  };
}
