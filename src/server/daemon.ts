// `toolcell serve`: load profiles, listen, serve one MCP server per connection, and on SIGTERM stop
// accepting, kill every running sandbox and remove the socket.
import type { Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { setCloexecFrom3 } from '../../native/libc.js';
import type { DaemonConfig } from '../config/daemon-config.js';
import { cgroupParentDirs, cgroupSetup, sweepStaleCgroups } from '../linux/cgroup.js';
import { loadTools } from '../profile/load-tools.js';
import { configureSandboxNetworks, onForwardingChange, sweepStaleNetworks } from '../linux/sandbox-network.js';
import { describeProfileError } from '../profile/profile.js';
import { listenSocket, removeSocket } from './listen-socket.js';
import type { LineTransport } from './line-transport.js';
import { serveConnection } from './mcp-connection.js';
import { VERSION } from '../version.js';

export interface RunningDaemon {
  readonly socket: string;
  readonly tools: readonly string[];
  readonly clientGroupExists: boolean;
  stop(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;

export async function startDaemon(config: DaemonConfig, logger: Logger = pino({ level: config.log_level })): Promise<RunningDaemon> {
  // Before anything can spawn: nothing the daemon inherited may reach a sandbox.
  setCloexecFrom3();

  const cgroups = cgroupSetup(config.cgroup_root);
  if (cgroups.mode === 'none') logger.warn(`memory, pids and cpu limits are not enforced: ${cgroups.why}`);
  else {
    const swept = await sweepStaleCgroups(cgroups);
    logger.info({ cgroup: cgroups.mode, parents: cgroupParentDirs(cgroups), swept: swept.length }, 'cgroups ready');
  }

  configureSandboxNetworks({ v4: config.network_pool, v6: config.network_pool6 });
  onForwardingChange((c) =>
    logger.warn(
      { family: c.family, acceptRa: c.acceptRa },
      `switched IPv${c.family} forwarding on for sandbox networks; the toolcell_guard table forwards nothing else`,
    ),
  );
  const sweptNetworks = await sweepStaleNetworks();
  if (sweptNetworks.length > 0) logger.info({ tables: sweptNetworks }, 'removed the host firewall tables of sandboxes whose daemon is gone');

  const loaded = await loadTools(config.tools_dir, config.client_group);
  for (const e of loaded.errors) logger.error({ file: e.file, line: e.line, key: e.key }, `tool not served: ${describeProfileError(e)}`);
  for (const w of loaded.warnings) logger.warn({ file: w.file, line: w.line, key: w.key }, describeProfileError(w));
  const served = loaded.tools;

  const shutdown = new AbortController();
  const connections = new Map<Socket, LineTransport>();
  const source = {
    tools: () => served,
    logger,
    shutdown: shutdown.signal,
    maxMessageBytes: config.max_message_bytes,
    version: VERSION,
  };
  let nextConnection = 1;
  const { server, gid } = await listenSocket(config.socket, config.client_group, (socket) => {
    const log = logger.child({ connection: nextConnection++ });
    socket.on('error', (e) => log.debug({ err: e }, 'socket error'));
    socket.once('close', () => connections.delete(socket));
    connections.set(socket, serveConnection(socket, source, log));
  });
  const tools = [...served.keys()];
  logger.info({ socket: config.socket, tools, toolsDir: config.tools_dir, clientGroup: gid === undefined ? null : config.client_group }, 'serving');
  if (gid === undefined) logger.warn(`client group "${config.client_group}" does not exist: only root can connect to ${config.socket}`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      server.close();
      shutdown.abort('shutdown');
      // Let the killed invocations send their results, then drop whoever is still connected.
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      const idle = Promise.all([...connections.values()].map((t) => t.idle()));
      await Promise.race([idle, new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
      for (const socket of connections.keys()) socket.end();
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of connections.keys()) socket.destroy();
      await removeSocket(config.socket);
      logger.info('stopped');
    })());
  return { socket: config.socket, tools, clientGroupExists: gid !== undefined, stop };
}
