// Who is calling: the kernel's account of the peer of a connection (SO_PEERCRED, recorded at
// connect()), with the user's name and groups resolved once per connection. Nothing the client
// says about itself counts.
import type { Socket } from 'node:net';
import { peerCredentials, type PeerCredentials } from '../../native/libc.js';
import { lookupUserRecord, type UserRecord } from '../linux/users.js';

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

/**
 * How long one lookup of a uid's name and groups serves its later connections. A client that
 * connects and closes in a loop, under max_connections_per_caller, made two processes per
 * connection, each still running after its connection had gone; now one lookup per uid at a time,
 * at most once per this long. A change of the user's groups counts from the next lookup.
 */
export const CALLER_LOOKUP_TTL_MS = 10_000;

type Lookup = (name: string) => Promise<UserRecord | undefined>;

/** Lookups of uids, in flight or done; entries older than the TTL are replaced when asked for. */
export class CallerDirectory {
  private readonly entries = new Map<number, { readonly at: number; readonly record: Promise<UserRecord | undefined> }>();

  /** `now`: a monotonic clock (a step of the wall clock must not stretch the TTL); tests pass their own. */
  constructor(
    private readonly lookup: Lookup = lookupUserRecord,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The peer's user name and groups, through NSS (two processes, getent and id). */
  async identify(cred: PeerCredentials): Promise<Caller> {
    const record = await this.recordOf(cred.uid);
    return { ...cred, user: record?.name ?? `uid ${cred.uid}`, groups: record?.groups ?? [] };
  }

  private recordOf(uid: number): Promise<UserRecord | undefined> {
    const now = this.now();
    const cached = this.entries.get(uid);
    if (cached && now - cached.at < CALLER_LOOKUP_TTL_MS) return cached.record;
    for (const [u, e] of this.entries) if (now - e.at >= CALLER_LOOKUP_TTL_MS) this.entries.delete(u);
    const entry = { at: now, record: this.lookup(String(uid)) };
    this.entries.set(uid, entry);
    // A failed lookup, or none found (getent's answer when NSS fails too), is not kept: the next
    // connection asks again rather than being a user without groups for the TTL.
    const forget = () => {
      if (this.entries.get(uid) === entry) this.entries.delete(uid);
    };
    entry.record.then((r) => r === undefined && forget(), forget);
    return entry.record;
  }
}

/**
 * Whether `caller` may see and call a tool with these [callers]. Root may use every tool (it owns
 * the machine and the daemon); without [callers], everyone who may connect may use the tool.
 */
export function mayUse(callers: { readonly users: readonly string[]; readonly groups: readonly string[] } | undefined, caller: Caller): boolean {
  if (caller.uid === 0 || callers === undefined) return true;
  return callers.users.includes(caller.user) || caller.groups.some((g) => callers.groups.includes(g));
}
