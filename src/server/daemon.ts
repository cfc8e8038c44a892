// `toolcell serve`: load profiles, listen (or adopt systemd's socket), serve one MCP server per
// connection. Reload re-reads the profiles without touching connections or running calls. Stop
// drains: no new connections or calls, running calls may finish until drain_timeout, then the
// rest are killed, their results sent, and the connections closed.
import type { Server, Socket } from 'node:net';
import { basename } from 'node:path';
import pino, { type Logger } from 'pino';
import { becomeChildSubreaper, setCloexecFrom3, type PeerCredentials } from '../../native/libc.js';
import type { DaemonConfig } from '../config/daemon-config.js';
import { cgroupParentDirs, cgroupSetup, sweepStaleCgroups } from '../linux/cgroup.js';
import { loadTools, type ServedTool } from '../profile/load-tools.js';
import { PendingWork } from '../invocation/pending-work.js';
import { ReadyPool } from '../invocation/ready-pool.js';
import { mergeLastGood, watchDirectory, type Reloaded } from './reload.js';
import { configureSandboxNetworks, onForwardingChange, sweepStaleNetworks } from '../linux/sandbox-network.js';
import { untrustedToolsDir } from '../linux/trusted-dir.js';
import { describeProfileError } from '../profile/profile.js';
import { adoptedSocketMismatches, adoptSocket, groupId, listenSocket, removeSocket } from './listen-socket.js';
import { serveConnection, type Connection } from './mcp-connection.js';
import { CallerDirectory, peerOf } from './caller.js';
import { loggedCaller } from '../invocation/run-invocation.js';
import { Admission, ConnectionCount } from './admission.js';
import { RefusalLog } from './refusal-log.js';
import { CheckPenalties } from './check-penalties.js';
import { RATE_LIMITED } from './line-transport.js';
import { notifySystemd, takeListenFd } from './systemd.js';
import { VERSION } from '../version.js';

export interface RunningDaemon {
  readonly socket: string;
  readonly tools: readonly string[];
  readonly clientGroupExists: boolean;
  /** Re-reads the tools directory; a broken profile keeps nothing of its old version. */
  reload(): Promise<void>;
  stop(): Promise<void>;
  /** Ends a drain that stop() started: the calls still running are killed now. */
  hurry(): void;
}

/** After the drain: how long killed calls get to send their results before connections are cut. */
const ANSWER_GRACE_MS = 5_000;
/** How long a refused connection's error line may take to be written before the connection is cut. */
const REFUSED_CLOSE_MS = 2_000;

class ConnectionRefused extends Error {}

async function loadServed(config: DaemonConfig, logger: Logger, previous: ReadonlyMap<string, ServedTool> = new Map()): Promise<Reloaded> {
  // Profiles name the users the daemon's start creates and root-only files it reads as secrets:
  // whoever may change the directory could make both theirs.
  const untrusted = untrustedToolsDir(config.tools_dir);
  if (untrusted) throw new Error(`tools_dir ${untrusted}`);
  const loaded = await loadTools(config.tools_dir, config.client_group);
  const merged = mergeLastGood(previous, loaded.tools, loaded.errors);
  for (const e of loaded.errors) {
    const kept = merged.keptLastGood.includes(basename(e.file, '.toml'));
    logger.error({ file: e.file, line: e.line, key: e.key }, `${kept ? 'new version not served, the last good one stays' : 'tool not served'}: ${describeProfileError(e)}`);
  }
  for (const w of loaded.warnings) logger.warn({ file: w.file, line: w.line, key: w.key }, describeProfileError(w));
  return merged;
}

export async function startDaemon(config: DaemonConfig, logger: Logger = pino({ level: config.log_level })): Promise<RunningDaemon> {
  // Before anything can spawn: nothing the daemon inherited may reach a child (systemd's listening
  // socket included; the daemon keeps using it). Sandboxes are covered again at each spawn
  // (native/spawn.ts); this also covers what Node's child_process starts (useradd, getent).
  setCloexecFrom3();
  becomeChildSubreaper();
  const listenFd = takeListenFd();

  const cgroups = cgroupSetup(config.cgroup_root);
  if (cgroups.mode === 'none') logger.warn(`memory, pids and cpu limits are not enforced: ${cgroups.why}`);
  else {
    const swept = await sweepStaleCgroups(cgroups);
    logger.info({ cgroup: cgroups.mode, parents: cgroupParentDirs(cgroups), swept: swept.length }, 'cgroups ready');
  }
  configureSandboxNetworks({ v4: config.network_pool, v6: config.network_pool6 });
  onForwardingChange((c) =>
    logger.warn({ family: c.family, acceptRa: c.acceptRa }, `switched IPv${c.family} forwarding on for sandbox networks; the toolcell_guard table forwards nothing else`),
  );
  const sweptNetworks = await sweepStaleNetworks();
  if (sweptNetworks.length > 0) logger.info({ tables: sweptNetworks }, 'removed the host firewall tables of sandboxes whose daemon is gone');

  let served = (await loadServed(config, logger)).tools;

  const pool = new ReadyPool({ perTool: config.ready_sandboxes, maxReady: config.ready_sandboxes_total, maxAgeMs: config.ready_max_age, logger });
  const teardowns = new PendingWork();
  const shutdown = new AbortController();
  let draining = false;
  const connections = new Map<Socket, Connection>();
  const refusals = new RefusalLog(logger);
  const source = {
    tools: () => served,
    logger,
    shutdown: shutdown.signal,
    draining: () => draining,
    maxMessageBytes: config.max_message_bytes,
    maxMessagesPerSecond: config.max_messages_per_second,
    admission: new Admission(config),
    refusals,
    penalties: new CheckPenalties(),
    pool,
    background: (work: Promise<void>) => teardowns.add(work),
    version: VERSION,
  };
  let nextConnection = 1;
  const connectionCount = new ConnectionCount();
  const callers = new CallerDirectory();
  /** Each uid's name, as its latest connection let in was looked up: for refusals, which look up nothing. */
  const userNames = new Map<number, Promise<string>>();
  const refuse = async (socket: Socket, peer: PeerCredentials, log: Logger) => {
    // The name is the one a connection of the same uid that was let in is being looked up by.
    const user = await (userNames.get(peer.uid) ?? `uid ${peer.uid}`);
    const message = `${user} has ${config.max_connections_per_caller} connections open already (max_connections_per_caller)`;
    refusals.write(peer.uid, 'connection', log, 'warn', { caller: loggedCaller({ ...peer, user }) }, `connection refused: ${message}`);
    // Closed, not only half-closed: a peer that keeps its side open would otherwise hold the
    // connection as long as it likes. A peer that does not read could hold off end's callback.
    socket.end(`${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RATE_LIMITED, message } })}\n`, () => socket.destroy());
    setTimeout(() => socket.destroy(), REFUSED_CLOSE_MS).unref();
  };
  const onConnection = (socket: Socket) => {
    const log = logger.child({ connection: nextConnection++ });
    socket.on('error', (e) => log.debug({ err: e }, 'socket error'));
    socket.once('close', () => connections.delete(socket));
    let peer: PeerCredentials;
    try {
      peer = peerOf(socket);
    } catch (e) {
      // Without the kernel's word on who is calling, the connection gets nothing.
      log.warn({ err: e }, 'caller unknown: connection closed');
      socket.destroy();
      return;
    }
    // The limit is checked on the kernel's word alone, before the user is looked up: a caller over
    // its limit costs the daemon no lookup (two processes each), however fast it connects. Nor is
    // such a connection served: nothing it sends is read.
    if (connectionCount.add(peer.uid, socket) > config.max_connections_per_caller) {
      void refuse(socket, peer, log);
      return;
    }
    // The connection is served at once, but every request waits on this promise until the caller
    // is identified.
    const identified = callers.identify(peer);
    userNames.set(peer.uid, identified.then((c) => c.user, () => `uid ${peer.uid}`));
    const caller = (async () => {
      const c = await identified;
      if (socket.destroyed) throw new ConnectionRefused('closed before it was identified');
      log.info({ caller: loggedCaller(c) }, 'connected');
      return c;
    })();
    caller.catch((e: Error) => {
      if (e instanceof ConnectionRefused) return;
      // Nor without its name and groups, which [callers] are judged by.
      log.warn({ err: e }, 'caller unknown: connection closed');
      socket.destroy();
    });
    connections.set(socket, serveConnection(socket, source, log, caller));
  };
  let server: Server;
  let gid: number | undefined;
  if (listenFd !== undefined) {
    server = await adoptSocket(listenFd, onConnection);
    gid = groupId(config.client_group);
    for (const mismatch of adoptedSocketMismatches(listenFd, config.socket, config.client_group, gid)) logger.warn(mismatch);
  } else {
    ({ server, gid } = await listenSocket(config.socket, config.client_group, onConnection));
  }
  const tools = [...served.keys()];
  logger.info(
    { socket: config.socket, adopted: listenFd !== undefined, tools, toolsDir: config.tools_dir, clientGroup: gid === undefined ? null : config.client_group },
    'serving',
  );
  if (gid === undefined) logger.warn(`client group "${config.client_group}" does not exist: only root can connect to ${config.socket}`);
  notifySystemd(`READY=1\nSTATUS=serving ${tools.length} tool(s)\nMAINPID=${process.pid}`);

  // One reload at a time; a request that arrives during one runs once more after it, so the
  // last edit is never missed.
  let reloading: Promise<void> | undefined;
  let again = false;
  const reloadOnce = async () => {
    notifySystemd('RELOADING=1');
    try {
      const before = new Set(served.keys());
      const reloaded = await loadServed(config, logger, served);
      served = reloaded.tools;
      pool.retain(served);
      const after = [...served.keys()];
      logger.info(
        { tools: after, added: after.filter((t) => !before.has(t)), removed: [...before].filter((t) => !served.has(t)), keptLastGood: reloaded.keptLastGood },
        'profiles reloaded',
      );
      for (const c of connections.values()) c.toolsChanged();
    } catch (e) {
      logger.error({ err: e }, 'reload failed; the tools served before stay served');
    } finally {
      notifySystemd(`READY=1\nSTATUS=serving ${served.size} tool(s)`);
    }
  };
  const reload = (): Promise<void> => {
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = (async () => {
      do {
        again = false;
        await reloadOnce();
      } while (again);
    })().finally(() => (reloading = undefined));
    return reloading;
  };

  let endDrain: () => void = () => undefined;
  const hurried = new Promise<void>((resolve) => (endDrain = resolve));
  // An edit in the tools directory reloads, as SIGHUP does.
  const watcher = watchDirectory(config.tools_dir, () => void reload());

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      notifySystemd('STOPPING=1');
      draining = true;
      watcher.close();
      // Ready sandboxes go first: no new call will take them.
      const poolClosed = pool.close();
      logger.info({ drainTimeoutMs: config.drain_timeout }, 'stopping: draining running calls');
      server.close();
      // Drain: running calls may finish until drain_timeout; new calls are refused meanwhile.
      const running = () => Promise.all([...connections.values()].map((c) => c.transport.idle()));
      const timer = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
      const drained = await Promise.race([running().then(() => true), timer(config.drain_timeout).then(() => false), hurried.then(() => false)]);
      logger.info({ drained, connections: connections.size }, drained ? 'running calls finished' : 'drain timeout: killing the calls still running');
      shutdown.abort('shutdown');
      // Let the killed invocations send their results, then drop whoever is still connected.
      const deadline = Date.now() + ANSWER_GRACE_MS;
      await Promise.race([running(), timer(ANSWER_GRACE_MS)]);
      for (const socket of connections.keys()) socket.end();
      while (connections.size > 0 && Date.now() < deadline) await timer(20);
      for (const socket of connections.keys()) socket.destroy();
      await poolClosed;
      await teardowns.settled();
      refusals.flush();
      if (listenFd === undefined) await removeSocket(config.socket);
      logger.info('stopped');
    })());
  return { socket: config.socket, tools, clientGroupExists: gid !== undefined, reload, stop, hurry: () => endDrain() };
}
