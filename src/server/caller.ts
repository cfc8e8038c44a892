// Who is calling: the kernel's account of the peer of a connection (SO_PEERCRED, recorded at
// connect()), with the user's name and groups resolved once per connection. Nothing the client
// says about itself counts.
import type { Socket } from 'node:net';
import { peerCredentials, type PeerCredentials } from '../../native/libc.js';
import { lookupUserRecord } from '../linux/users.js';

export interface Caller {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The user's name, or "uid N" for a uid NSS does not know. */
  readonly user: string;
  readonly groups: readonly string[];
}

/** The descriptor under a connected net.Socket (libuv's handle; Node has no public accessor). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no descriptor');
  return fd;
}

/** The kernel's account of the peer: no I/O beyond one getsockopt. */
export function peerOf(socket: Socket): PeerCredentials {
  return peerCredentials(socketFd(socket));
}

/** The peer's user name and groups, through NSS: two processes (getent, id). */
export async function identifyCaller(cred: PeerCredentials): Promise<Caller> {
  const record = await lookupUserRecord(String(cred.uid));
  return {
    ...cred,
    user: record?.name ?? `uid ${cred.uid}`,
    groups: record?.groups ?? [],
  };
}

/**
 * Whether `caller` may see and call a tool with these [callers]. Root may use every tool (it owns
 * the machine and the daemon); without [callers], everyone who may connect may use the tool.
 */
export function mayUse(callers: { readonly users: readonly string[]; readonly groups: readonly string[] } | undefined, caller: Caller): boolean {
  if (caller.uid === 0 || callers === undefined) return true;
  return callers.users.includes(caller.user) || caller.groups.some((g) => callers.groups.includes(g));
}
