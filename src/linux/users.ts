// System users and groups through NSS (getent, id) and shadow-utils (useradd, groupadd). Mechanism
// only: which users are acceptable for a tool is decided in profile/check-identity.
import { CommandError, runCommand } from './run-command.js';

/**
 * By absolute path, started with posix_spawn like every other process of the daemon's, not through
 * child_process, which forks the whole daemon: 9.5 ms of blocked event loop each at 90 MiB on the
 * PVM machine, against 0.3 ms, and every connection looks its caller up with two of them.
 */
const PROGRAMS = {
  getent: '/usr/bin/getent',
  id: '/usr/bin/id',
  useradd: '/usr/sbin/useradd',
  groupadd: '/usr/sbin/groupadd',
  userdel: '/usr/sbin/userdel',
  groupdel: '/usr/sbin/groupdel',
} as const;

const run = (program: keyof typeof PROGRAMS, args: string[]) => runCommand(`${program} ${args.join(' ')}`, PROGRAMS[program], args);

/** shadow-utils give up at once when another process holds /etc/passwd's lock: retry a little. */
async function runLocked(program: keyof typeof PROGRAMS, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run(program, args);
      return;
    } catch (e) {
      if (attempt >= 50 || !(e instanceof CommandError) || !/lock/i.test(e.stderr)) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface UserRecord {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
  /** The passwd comment (GECOS): a user toolcell made says TOOL_USER_COMMENT. */
  readonly comment: string;
  /** Every group the user is in (primary and supplementary), by name. */
  readonly groups: readonly string[];
}

/**
 * The user's passwd entry and groups, or undefined when NSS knows no such user. `name` may be a
 * uid. `exec` runs the programs (tests replace it).
 */
export async function lookupUserRecord(name: string, exec = run): Promise<UserRecord | undefined> {
  let passwd: string;
  try {
    passwd = await exec('getent', ['passwd', '--', name]);
  } catch {
    return undefined;
  }
  const f = passwd.trim().split(':');
  const user = f[0] || name;
  // The groups of the account getent found, by its name: getent takes a uid for a uid, but id
  // takes "1001" for a name first, and a user named 1001 would lend the caller its groups.
  const groups = (await exec('id', ['-Gn', '--', user])).trim().split(/\s+/).filter(Boolean);
  return { name: user, uid: Number(f[2]), gid: Number(f[3]), comment: f[4] ?? '', home: f[5] ?? '', shell: f[6] ?? '', groups };
}

export async function groupExists(name: string): Promise<boolean> {
  try {
    await run('getent', ['group', '--', name]);
    return true;
  } catch {
    return false;
  }
}

export const NOLOGIN_SHELL = '/usr/sbin/nologin';
/**
 * The passwd comment of every user toolcell makes (here and in sysusers.d), so that what it made
 * can be told from accounts it merely found: uninstall --purge removes only users that carry it.
 */
export const TOOL_USER_COMMENT = 'toolcell tool';

/** A system group. */
export async function createGroup(name: string): Promise<void> {
  await runLocked('groupadd', ['--system', '--', name]);
}

/**
 * A system user for one tool: its own group, no home (the sandbox gets a tmpfs HOME), no login
 * shell, and a locked password (useradd's default: "!" in shadow).
 */
export async function createToolUser(name: string): Promise<void> {
  if (!(await groupExists(name))) await createGroup(name);
  await runLocked('useradd', ['--system', '--gid', name, '--no-create-home', '--home-dir', '/nonexistent', '--shell', NOLOGIN_SHELL, '--comment', `${TOOL_USER_COMMENT} ${name}`, '--', name]);
}

/** Removes a user and its group of the same name (tests and uninstall). */
export async function removeUser(name: string): Promise<void> {
  await runLocked('userdel', ['--', name]).catch(() => {});
  await runLocked('groupdel', ['--', name]).catch(() => {});
}
