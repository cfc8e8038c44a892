// `toolcell serve`: run the daemon in the foreground. SIGHUP reloads the profiles; SIGTERM or
// SIGINT stops it after draining the running calls, and a second one ends the drain at once.
import { fileURLToPath } from 'node:url';
import type { DaemonConfig } from '../config/daemon-config.js';
import { startDaemon } from '../server/daemon.js';

const BIN = fileURLToPath(new URL('../../../bin/toolcell.js', import.meta.url));

function announce(socket: string, tools: readonly string[], clientGroupExists: boolean, group: string): string {
  const snippet = { mcpServers: { toolcell: { command: process.execPath, args: [BIN, 'connect', '--socket', socket] } } };
  return [
    `toolcell: serving ${tools.length} tool(s) (${tools.join(', ')}) on ${socket}`,
    clientGroupExists
      ? `toolcell: root and members of group "${group}" may connect`
      : `toolcell: group "${group}" does not exist, so only root may connect (create it and add users to let them in)`,
    'toolcell: MCP host configuration (Claude Desktop, VS Code, ...):',
    JSON.stringify(snippet, null, 2),
    `toolcell: reload the profiles with SIGHUP; stop with Ctrl-C (twice: without waiting for running calls)`,
    '',
  ].join('\n');
}

export async function runServe(config: DaemonConfig, withAnnouncement: boolean): Promise<number> {
  const daemon = await startDaemon(config);
  if (withAnnouncement) process.stderr.write(announce(daemon.socket, daemon.tools, daemon.clientGroupExists, config.client_group));
  const onReload = () => void daemon.reload();
  process.on('SIGHUP', onReload);
  await new Promise<void>((resolve) => {
    let signalled = false;
    const onSignal = () => {
      if (signalled) return daemon.hurry();
      signalled = true;
      void daemon.stop().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  process.off('SIGHUP', onReload);
  return 0;
}
