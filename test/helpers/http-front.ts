// Test-only: exposes a daemon's Unix socket as MCP Streamable HTTP on 127.0.0.1, so that HTTP-only
// MCP peers (the conformance suite) can test toolcell. toolcell itself serves only the socket.
// Each HTTP session gets its own connection to the daemon, and the front relays JSON-RPC messages
// unchanged both ways: what the peer judges is toolcell's own answers. Loopback only, with the
// SDK's Host-header check (DNS rebinding) on.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { LineTransport } from '../../src/server/line-transport.js';
import { openSocket } from './daemon.js';

export interface HttpFront {
  /** http://127.0.0.1:PORT/mcp */
  readonly url: string;
  /** Sessions opened so far (each one a connection to the daemon). */
  sessions(): number;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

type Message = JSONRPCMessage & { id?: RequestId; method?: string; params?: { progressToken?: unknown; _meta?: { progressToken?: unknown } } };

/** One HTTP session wired to one daemon connection. */
async function openSession(socketPath: string, allowedHosts: string[], sessions: Map<string, StreamableHTTPServerTransport>): Promise<StreamableHTTPServerTransport> {
  const socket = await openSocket(socketPath);
  socket.on('error', () => {});
  const daemon = new LineTransport(socket, MAX_MESSAGE_BYTES);
  const http = new StreamableHTTPServerTransport({
    sessionIdGenerator: randomUUID,
    onsessioninitialized: (id) => void sessions.set(id, http),
    onsessionclosed: (id) => void sessions.delete(id),
    enableDnsRebindingProtection: true,
    allowedHosts,
  });
  // Progress notifications belong on the SSE stream of the request that asked for them: the
  // transport routes a notification there only when told which request it relates to.
  const progressOwner = new Map<unknown, RequestId>();
  http.onmessage = (message) => {
    const m = message as Message;
    const token = m.params?._meta?.progressToken;
    if (m.method !== undefined && m.id !== undefined && token !== undefined) progressOwner.set(token, m.id);
    daemon.send(message).catch(() => http.close());
  };
  daemon.onmessage = (message) => {
    const m = message as Message;
    const related = m.method === 'notifications/progress' ? progressOwner.get(m.params?.progressToken) : undefined;
    if (m.method === undefined && m.id !== undefined) for (const [token, id] of progressOwner) if (id === m.id) progressOwner.delete(token);
    // A peer that went away before its answer: nothing to deliver it to.
    http.send(message, related === undefined ? undefined : { relatedRequestId: related }).catch(() => {});
  };
  http.onclose = () => void daemon.close();
  daemon.onclose = () => void http.close();
  await daemon.start();
  await http.start();
  return http;
}

export async function startHttpFront(socketPath: string): Promise<HttpFront> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const opened: StreamableHTTPServerTransport[] = [];
  let allowedHosts: string[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') return void res.writeHead(404).end();
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (typeof id === 'string' && !transport) return void res.writeHead(404).end('unknown session');
    if (!transport) {
      if (req.method !== 'POST') return void res.writeHead(400).end('no session');
      // No session yet: only an initialize POST may open one (the transport refuses anything else).
      transport = await openSession(socketPath, allowedHosts, sessions);
      opened.push(transport);
    }
    await transport.handleRequest(req, res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  allowedHosts = [`127.0.0.1:${port}`];
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    sessions: () => opened.length,
    async close() {
      await Promise.all(opened.map((t) => t.close().catch(() => {})));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
