// The daemon's Unix socket: created 0600 and only then opened to the client group (0660), so no
// one outside the group can connect in between. A stale socket file is replaced; a live daemon's
// socket is not.
import { chmod, lchown, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fstatSync, readFileSync, statSync } from 'node:fs';
import { untrustedDirReason } from '../linux/trusted-dir.js';

export class ListenError extends Error {}

function probe(path: string): Promise<'live' | 'stale'> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (r: 'live' | 'stale') => {
      s.destroy();
      resolve(r);
    };
    s.once('connect', () => done('live'));
    s.once('error', () => done('stale'));
    s.setTimeout(1000, () => done('live'));
  });
}

async function clearStale(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ListenError(`${path} exists and is not a socket; refusing to replace it`);
  if ((await probe(path)) === 'live') throw new ListenError(`another daemon is already listening on ${path}`);
  await unlink(path);
}

export function groupId(name: string): number | undefined {
  try {
    const line = execFileSync('getent', ['group', name], { env: {}, encoding: 'utf8' });
    const gid = Number(line.split(':')[2]);
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

export interface Listening {
  readonly server: Server;
  /** The group that may connect, or undefined when it does not exist (then only root can). */
  readonly gid: number | undefined;
}

export async function listenSocket(path: string, clientGroup: string, onConnection: (s: Socket) => void): Promise<Listening> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  // The socket's owner and mode are set by path: in a directory someone else may change, they
  // could swap the socket for a symlink in between and have root hand them any file.
  const why = untrustedDirReason(dirname(path));
  if (why) throw new ListenError(`socket ${path}: ${why}; put the socket in a directory only root may change, such as /run/toolcell`);
  await clearStale(path);
  const server = createServer({ allowHalfOpen: false }, onConnection);
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new ListenError(`listen on ${path}: ${e.message}`)));
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  const gid = groupId(clientGroup);
  if (gid !== undefined) await lchown(path, 0, gid);
  await chmod(path, 0o660);
  return { server, gid };
}

export async function removeSocket(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/**
 * The socket systemd made (toolcell.socket: its path, mode and group are systemd's) on descriptor
 * `fd`. The daemon never removes that file: it outlives a restart, so clients that connect while
 * the daemon is down wait in the backlog instead of finding nothing.
 */
export async function adoptSocket(fd: number, onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ListenError(`adopt the socket systemd passed (fd ${fd}): ${e.message}`)));
    server.listen({ fd }, () => resolve());
  });
  return server;
}

/**
 * Where the socket systemd passed differs from toolcell.toml: toolcell.socket fixes its path and
 * group, so an edit of `socket` or `client_group` alone changes nothing there. What an admin must
 * fix in toolcell.socket, one line each.
 */
export function adoptedSocketMismatches(fd: number, socket: string, clientGroup: string, gid: number | undefined): string[] {
  const address = boundPath(fd);
  if (address === undefined) return [];
  const out: string[] = [];
  if (address !== socket) out.push(`the socket systemd passed is ${address}, not socket = ${JSON.stringify(socket)} of toolcell.toml: set ListenStream= in toolcell.socket`);
  let owner: number | undefined;
  try {
    owner = statSync(address).gid;
  } catch {
    // gone or unreachable by path: nothing to compare
  }
  if (owner !== undefined && gid !== undefined && owner !== gid) {
    out.push(`the socket systemd passed (${address}) belongs to gid ${owner}, not to client_group ${JSON.stringify(clientGroup)} (gid ${gid}): set SocketGroup= in toolcell.socket, or the members of another group may connect`);
  }
  return out;
}

/** The path a listening Unix socket descriptor is bound to, from /proc/net/unix by its inode (Node does not tell for an adopted one). */
function boundPath(fd: number): string | undefined {
  try {
    const inode = String(fstatSync(fd).ino);
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[6] === inode && f[7]?.startsWith('/')) return f[7];
    }
  } catch {
    // no such descriptor or no /proc: nothing to compare
  }
  return undefined;
}
