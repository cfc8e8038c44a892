// End-to-end helpers: a real `toolcell serve` as a child process, SDK clients over its socket
// (directly and through `toolcell connect`), a raw line client for protocol faults, and temporary
// tools directories. Every wait here is bounded in time.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { LineTransport } from '../../src/server/line-transport.js';
import { BIN, PROFILES } from './paths.js';
import { DAEMON_ENV, DAEMON_NODE_OPTIONS } from '../../src/server/daemon-runtime.js';

/** Waits scale with TOOLCELL_TEST_SLOWDOWN: the cgroup v2 VM emulates its CPU and is many times slower. */
export const SLOWDOWN = Math.max(1, Number(process.env.TOOLCELL_TEST_SLOWDOWN) || 1);
export const READY_TIMEOUT_MS = 10_000 * SLOWDOWN;
export const STOP_TIMEOUT_MS = 10_000 * SLOWDOWN;

/** Sleeps without keeping the event loop alive on its own. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function pollUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const maxRounds = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let round = 0; round < maxRounds; round++) {
    if (await check()) return true;
    if (Date.now() >= deadline) break;
    await delay(intervalMs);
  }
  return check();
}

/** A fresh directory under /tmp (short enough for a Unix socket path). */
export function makeTempDir(prefix = 'tc-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A tools directory with a copy of the bundled profiles plus `extra` files (name → TOML text). */
export function makeToolsDir(extra: Readonly<Record<string, string>> = {}, withBundled = true): string {
  const dir = makeTempDir('tc-tools-');
  if (withBundled) {
    for (const name of readdirSync(PROFILES)) if (name.endsWith('.toml')) copyFileSync(join(PROFILES, name), join(dir, name));
  }
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Resolves when something accepts a connection on `path`, false when it never did in time. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Waits for a child to exit (bounded); SIGKILLs it by pid if it did not. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<ExitStatus & { timedOut: boolean }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode, timedOut: false });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.once('exit', (code, signal) => resolve({ code, signal, timedOut: true }));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut: false });
    });
  });
}

/** Runs the toolcell CLI to completion (bounded) and returns its exit status and output. */
export async function runCli(args: readonly string[], timeoutMs = 15_000): Promise<ExitStatus & { stdout: string; stderr: string; timedOut: boolean }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exit = await waitForExit(child, timeoutMs);
  // Let the pipes drain.
  await pollUntil(() => child.stdout.readableEnded && child.stderr.readableEnded, 1000);
  return { ...exit, stdout, stderr };
}

export interface DaemonOptions {
  /** Tools directory (--tools). */
  readonly tools: string;
  /** Socket path; default: mcp.sock in a fresh temp directory that stop() removes. */
  readonly socket?: string;
  /** Daemon config file text, written to a temp file and passed as --config. */
  readonly configToml?: string;
  /** Extra environment for the daemon (on top of this process's). */
  readonly env?: Readonly<Record<string, string>>;
  /** Node options after DAEMON_NODE_OPTIONS (a later V8 flag overrides an earlier one). */
  readonly nodeOptions?: readonly string[];
  /** Extra descriptors handed to the daemon beyond 0-2 (each becomes an inherited pipe). */
  readonly extraFds?: number;
  /**
   * A command that execs the daemon (nsenter into a test's network namespace, ...): it must exec,
   * not fork, so that the child's pid stays the daemon's.
   */
  readonly wrap?: readonly string[];
}

export class Daemon {
  stdout = '';
  stderr = '';
  readonly exited: Promise<ExitStatus>;

  constructor(
    readonly child: ChildProcess,
    readonly socket: string,
    /** Temp directory owned by this daemon (socket dir, config file); removed by stop(). */
    private readonly ownDir: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (this.stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then wait (bounded; SIGKILL after STOP_TIMEOUT_MS). Safe to call twice. */
  async stop(): Promise<ExitStatus & { timedOut: boolean }> {
    if (this.running) this.child.kill('SIGTERM');
    const status = await waitForExit(this.child, STOP_TIMEOUT_MS);
    removeDir(this.ownDir);
    return status;
  }
}

/**
 * Starts `toolcell serve` and waits (bounded) until its socket is open to the client group (mode
 * 0660, set after listen) and answers: root can connect a moment before the mode is final.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const ownDir = makeTempDir('tc-d-');
  const socket = opts.socket ?? join(ownDir, 'mcp.sock');
  const args = [...DAEMON_NODE_OPTIONS, ...(opts.nodeOptions ?? []), BIN, 'serve', '--tools', opts.tools, '--socket', socket];
  if (opts.configToml !== undefined) {
    const configFile = join(ownDir, 'toolcell.toml');
    writeFileSync(configFile, opts.configToml);
    args.push('--config', configFile);
  }
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...Array.from({ length: opts.extraFds ?? 0 }, () => 'pipe' as const)];
  const [file, ...argv] = [...(opts.wrap ?? []), process.execPath, ...args];
  const child = spawn(file!, argv, { stdio, env: { ...process.env, ...DAEMON_ENV, ...opts.env } });
  const daemon = new Daemon(child, socket, ownDir);
  const ready = await pollUntil(async () => !daemon.running || (socketMode(socket) === 0o660 && (await socketAnswers(socket, 500))), READY_TIMEOUT_MS, 50);
  if (!ready || !daemon.running) {
    await daemon.stop();
    throw new Error(`toolcell serve did not answer on ${socket} within ${READY_TIMEOUT_MS} ms\nstdout:\n${daemon.stdout}\nstderr:\n${daemon.stderr}`);
  }
  return daemon;
}

function socketMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
}

/** Opens a connected Unix socket (bounded). */
export function openSocket(path: string, timeoutMs = 5000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${path}: timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const CLIENT_INFO = { name: 'toolcell-e2e', version: '1.0.0' };

/** A tools/call whose structuredContent (a toolcell result) the test reads. */
export async function callStructured<T>(client: Client, name: string, args: Record<string, unknown>): Promise<T> {
  return ((await client.callTool({ name, arguments: args })) as CallToolResult).structuredContent as unknown as T;
}

export interface DirectClient {
  readonly client: Client;
  readonly socket: Socket;
}

/** The official SDK client, directly on the daemon's socket (the project's LineTransport, symmetric framing). */
export async function connectClient(socketPath: string): Promise<DirectClient> {
  const socket = await openSocket(socketPath);
  socket.on('error', () => {});
  const client = new Client(CLIENT_INFO);
  await client.connect(new LineTransport(socket, 64 * 1024 * 1024));
  return { client, socket };
}

export interface BridgedClient {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  stderr(): string;
}

/** The official SDK client through `toolcell connect` (what MCP hosts launch). */
/**
 * `toolcell connect` as an MCP host runs it; with `asUser`, as that user (setpriv execs without
 * forking, so the bridge's pid is the transport's pid: the one the daemon sees as its peer).
 */
export async function connectBridge(socketPath: string, asUser?: string): Promise<BridgedClient> {
  const bridge = [process.execPath, BIN, 'connect', '--socket', socketPath];
  const [command, ...args] = asUser === undefined ? bridge : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--init-groups', '--', ...bridge];
  const transport = new StdioClientTransport({ command: command!, args, stderr: 'pipe' });
  let stderr = '';
  // With stderr: 'pipe' the SDK hands out a PassThrough stream at once, before start().
  const errStream = transport.stderr as Readable | null;
  errStream?.setEncoding('utf8');
  errStream?.on('data', (c: string) => (stderr += c));
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

/** Closes a client, ignoring a connection that is already gone. */
export async function closeQuietly(client: { close(): Promise<void> } | undefined): Promise<void> {
  await client?.close().catch(() => {});
}

/** One JSON-RPC line client on a raw socket: write bytes yourself, read response lines. */
export class RawConnection {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        this.lines.push(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static async open(path: string): Promise<RawConnection> {
    return new RawConnection(await openSocket(path));
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes one JSON-RPC message as a line. */
  send(message: unknown): void {
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  /** The next response line, parsed; throws when none comes within `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error('connection closed before a response line arrived');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return JSON.parse(this.lines.shift()!) as Record<string, unknown>;
  }

  /** Sends initialize + notifications/initialized, as any MCP client does first. */
  async initialize(id: number | string = 'init'): Promise<Record<string, unknown>> {
    this.send({
      jsonrpc: '2.0',
      id,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: CLIENT_INFO },
    });
    const reply = await this.next();
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }
}
