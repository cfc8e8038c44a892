// `toolcell connect`: the stdio bridge an MCP host launches. Bytes go both ways unchanged; the
// daemon does all the checking.
import { createConnection } from 'node:net';

export function runConnect(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      process.stdin.pipe(socket);
      socket.pipe(process.stdout);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!connected) {
        process.stderr.write(
          `toolcell connect: no toolcell daemon answers on ${socketPath} (${e.code ?? e.message}); start it with "toolcell serve" or "systemctl start toolcell"\n`,
        );
        resolve(1);
      } else {
        process.stderr.write(`toolcell connect: ${socketPath}: ${e.message}\n`);
        resolve(1);
      }
    });
    socket.once('close', () => resolve(connected ? 0 : 1));
    // The host closed our stdin: tell the daemon we are done sending.
    process.stdin.once('end', () => socket.end());
  });
}
