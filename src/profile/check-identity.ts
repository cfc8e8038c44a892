// Which Linux users a tool may run as. Pure: the caller looks the users up; this decides. A tool's
// user is its blast radius, so anything that would widen it is refused: root, a person's account,
// a privileged group, or a user shared with another tool.
import { TOOL_USER_COMMENT, type UserRecord } from '../linux/users.js';

/** Membership in any of these is a path to root or to other users' data. */
export const PRIVILEGED_GROUPS = [
  'root', 'sudo', 'wheel', 'admin', 'adm', 'staff', 'docker', 'lxd', 'lxc', 'libvirt', 'kvm', 'disk',
  'shadow', 'systemd-journal', 'systemd-network', 'netdev', 'tty', 'input', 'video', 'audio', 'plugdev',
  'lpadmin', 'sambashare',
] as const;

/** Shells that refuse a login; anything else counts as a real login shell. */
export const NOLOGIN_SHELLS = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false'];

/** The problems with running a tool as this user; empty when it is acceptable. */
export function identityProblems(
  userName: string,
  record: UserRecord | undefined,
  otherToolsWithSameUser: readonly string[],
  /** Members of the client group may talk to the daemon: a tool's user must not be one. */
  clientGroup: string,
  /** Tools whose users have this user's primary group: files one tool's user makes are the other's too. */
  otherToolsWithSameGroup: readonly string[] = [],
): string[] {
  if (!record) return [`user "${userName}" does not exist (create it with "toolcell users sync")`];
  const problems: string[] = [];
  if (record.uid === 0 || record.gid === 0) problems.push(`user "${userName}" is root (uid ${record.uid}, gid ${record.gid})`);
  if (!NOLOGIN_SHELLS.includes(record.shell)) problems.push(`user "${userName}" has a login shell (${record.shell || 'empty, which means /bin/sh'})`);
  if (record.home === '/root' || record.home === '/home' || record.home.startsWith('/home/')) {
    problems.push(`user "${userName}" has a home under /home or /root (${record.home}): that is a person's account`);
  }
  const privileged = record.groups.filter((g) => (PRIVILEGED_GROUPS as readonly string[]).includes(g) || g === clientGroup);
  if (privileged.length > 0) problems.push(`user "${userName}" is in privileged group(s) ${privileged.join(', ')}`);
  if (otherToolsWithSameUser.length > 0) {
    problems.push(`user "${userName}" is also the user of ${otherToolsWithSameUser.join(', ')}; every tool needs a user of its own`);
  }
  if (otherToolsWithSameGroup.length > 0) {
    problems.push(`user "${userName}" has the primary group (gid ${record.gid}) of the user of ${otherToolsWithSameGroup.join(', ')} as well; every tool needs a group of its own`);
  }
  return problems;
}

/**
 * What an admin should look at twice about a tool's user: an account toolcell did not make (a
 * service's, such as www-data or nobody) may own files or run processes outside toolcell, and all
 * of that is within the tool's reach.
 */
export function identityWarnings(userName: string, record: UserRecord): string[] {
  if (record.comment.startsWith(`${TOOL_USER_COMMENT} `)) return [];
  return [
    `user "${userName}" was not made for toolcell (its comment is ${JSON.stringify(record.comment)}): whatever else runs as it or belongs to it is within the tool's reach; name a user of the tool's own and run "toolcell users sync"`,
  ];
}
