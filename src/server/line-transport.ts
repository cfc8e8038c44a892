// MCP over a byte stream with the stdio framing: one JSON-RPC message per line, UTF-8. Unlike the
// SDK's stdio transport this one is written for hostile peers: a line over the cap, bytes that are
// not UTF-8, JSON that is not JSON-RPC each get a JSON-RPC error back, and the connection goes on.
import type { Duplex } from 'node:stream';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INTERNAL_ERROR = -32603;
/** Server-defined JSON-RPC error: the connection sends faster than max_messages_per_second. */
export const RATE_LIMITED = -32029;
const MAX_UNREAD_REPLY_BYTES = 64 * 1024 * 1024;
/**
 * Replies queued for a peer beyond this: read none of its requests until they have drained. A peer
 * that never reads then holds at most this plus the replies of the calls it already has running
 * (max_calls_per_caller), instead of up to MAX_UNREAD_REPLY_BYTES on every one of its connections.
 */
const PAUSE_READING_BYTES = 1024 * 1024;
/**
 * A peer whose replies have stayed over PAUSE_READING_BYTES this long, without one of them taken,
 * is closed: its connection would otherwise hold them, and the results of the calls it still had
 * running, for as long as it stays connected.
 */
export const UNREAD_REPLY_DEADLINE_MS = 30_000;
/** A line's buffer is kept for the next line up to this size, and given back when larger. */
const KEPT_LINE_BUFFER = 64 * 1024;
/**
 * Deeper messages are refused before anything handles them. Code that walks a message recursively
 * (the audit digest of the arguments, the SDK's error texts, loggers) overflows the stack on JSON
 * nested tens of thousands deep; no MCP message needs more than a few levels.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether valid JSON text nests arrays and objects deeper than `limit`; a scan, no recursion. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // the escaped character cannot end the string
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The id to answer a refused message with: its own, when it has a usable one. */
function requestIdOf(json: unknown): string | number | null {
  const id = typeof json === 'object' && json !== null && 'id' in json ? (json as { id: unknown }).id : null;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /**
   * The line received so far, in one buffer that grows by doubling: a peer that sends a line a
   * byte at a time costs its bytes, not a Buffer object (about 200 bytes of heap) per read.
   */
  private pending = Buffer.alloc(0);
  private pendingBytes = 0;
  private unreadTimer: NodeJS.Timeout | undefined;
  /** Replies the stream has handed on (its write callbacks): progress of a peer that reads. */
  private flushedReplies = 0;
  /** Inside an oversized line: drop bytes until its newline. */
  private discarding = false;
  private closed = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Requests received and not yet answered, so a shutdown can wait until every answer is out. */
  private readonly unanswered = new Set<string | number>();
  private idleWaiters: (() => void)[] = [];

  /** Token bucket over every line (good or bad): a flooding peer costs the daemon a bounded amount. */
  private tokens: number;
  private lastRefill = performance.now();
  private lastRateReply = -Infinity;

  constructor(
    private readonly stream: Duplex,
    private readonly maxMessageBytes: number,
    private readonly maxMessagesPerSecond = Infinity,
  ) {
    this.tokens = maxMessagesPerSecond;
  }

  /** Whether one more line may be handled now; over the rate it is dropped, with one error a second. */
  private admit(): boolean {
    if (this.maxMessagesPerSecond === Infinity) return true;
    const now = performance.now();
    this.tokens = Math.min(this.maxMessagesPerSecond, this.tokens + ((now - this.lastRefill) / 1000) * this.maxMessagesPerSecond);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (now - this.lastRateReply >= 1000) {
      this.lastRateReply = now;
      this.replyError(RATE_LIMITED, `more than ${this.maxMessagesPerSecond} messages per second on this connection (max_messages_per_second): messages are being dropped`);
    }
    return false;
  }

  async start(): Promise<void> {
    this.stream.on('data', (chunk: Buffer) => this.receive(chunk));
    this.stream.on('error', (e) => this.onerror?.(e));
    this.stream.on('close', () => this.finish());
    this.stream.on('end', () => this.stream.end());
  }

  private receive(chunk: Buffer): void {
    let start = 0;
    while (!this.closed) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.discarding) {
        if (this.pendingBytes + (end - start) > this.maxMessageBytes) {
          this.resetLine();
          this.discarding = true;
          if (this.admit()) this.replyError(INVALID_REQUEST, `message larger than ${this.maxMessageBytes} bytes`);
        } else if (end > start) {
          this.append(chunk, start, end);
        }
      }
      if (nl < 0) return;
      if (this.discarding) this.discarding = false;
      else if (this.admit()) this.deliver(this.pending.subarray(0, this.pendingBytes));
      this.resetLine();
      start = nl + 1;
    }
  }

  private append(chunk: Buffer, start: number, end: number): void {
    const needed = this.pendingBytes + (end - start);
    if (needed > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxMessageBytes, Math.max(needed, 2 * this.pending.length, 1024)));
      this.pending.copy(grown, 0, 0, this.pendingBytes);
      this.pending = grown;
    }
    chunk.copy(this.pending, this.pendingBytes, start, end);
    this.pendingBytes = needed;
  }

  private resetLine(): void {
    this.pendingBytes = 0;
    if (this.pending.length > KEPT_LINE_BUFFER) this.pending = Buffer.alloc(0);
  }

  /** Decodes and handles one line; synchronous, as `line` is this connection's buffer, reused after. */
  private deliver(line: Buffer): void {
    let text: string;
    try {
      text = this.decoder.decode(line).replace(/\r$/, '');
    } catch {
      return this.replyError(PARSE_ERROR, 'message is not valid UTF-8');
    }
    if (text.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.replyError(PARSE_ERROR, 'message is not valid JSON');
    }
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      return this.replyError(INVALID_REQUEST, `message nested deeper than ${MAX_JSON_DEPTH} levels`, requestIdOf(json));
    }
    const parsed = JSONRPCMessageSchema.safeParse(json);
    if (!parsed.success) {
      return this.replyError(INVALID_REQUEST, 'message is not a JSON-RPC 2.0 request, notification or response', requestIdOf(json));
    }
    const msg = parsed.data;
    if ('method' in msg && 'id' in msg) {
      // The SDK keeps one AbortController per id: a second request under an unanswered id replaces the
      // first's, and a hang-up or cancel then stops only the second while the first runs to its timeout.
      if (this.unanswered.has(msg.id)) {
        return this.replyError(INVALID_REQUEST, `request id ${JSON.stringify(msg.id)} is already in use by a request not yet answered`, msg.id);
      }
      this.unanswered.add(msg.id);
    }
    // The SDK never answers a request it was told to cancel: without this, the id (of any size) stayed
    // counted until the connection closed, and a stop waited drain_timeout for an answer never coming.
    if ('method' in msg && !('id' in msg) && msg.method === 'notifications/cancelled') {
      const id = (msg.params as { requestId?: unknown } | undefined)?.requestId;
      if ((typeof id === 'string' || typeof id === 'number') && this.unanswered.has(id)) this.answered(id);
    }
    try {
      this.onmessage?.(msg);
    } catch (e) {
      // The SDK handles some messages synchronously: a response to an id it never sent is
      // JSON.stringify'd into an error message, which deeply nested JSON overflows (RangeError).
      // Thrown from here it would reach the socket's 'data' event and end the daemon; one bad
      // message must cost only its own answer.
      this.onerror?.(e instanceof Error ? e : new Error(String(e)));
      const request = 'method' in msg && 'id' in msg;
      this.replyError(INTERNAL_ERROR, 'the message could not be handled', request ? msg.id : null);
      if (request) this.answered(msg.id);
    }
  }

  /** Resolves once every request received so far has been answered, or the connection closed. */
  idle(): Promise<void> {
    if (this.closed || this.unanswered.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private answered(id: string | number): void {
    this.unanswered.delete(id);
    if (this.unanswered.size === 0) this.wakeIdle();
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private replyError(code: number, message: string, id: string | number | null = null): void {
    this.write(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
  }

  private write(line: string): void {
    if (this.closed || !this.stream.writable) return;
    // A peer that sends but never reads would make the daemon buffer replies without end.
    if (this.stream.writableLength > MAX_UNREAD_REPLY_BYTES) {
      this.onerror?.(new Error(`peer does not read its replies (${this.stream.writableLength} bytes queued); closing`));
      void this.close();
      return;
    }
    const text = `${line}\n`;
    this.stream.write(text, () => (this.flushedReplies += 1));
    if (this.stream.writableLength > PAUSE_READING_BYTES && !this.stream.isPaused()) {
      // Backpressure: a peer that does not read its replies gets no more requests handled. A peer
      // that hangs up meanwhile is still noticed: the queued writes fail and close the stream.
      this.stream.pause();
      this.armUnreadDeadline();
      this.stream.once('drain', () => {
        clearTimeout(this.unreadTimer);
        this.stream.resume();
      });
    }
  }

  /**
   * Closes the connection if not one reply of its queue goes out within the deadline. A peer that
   * reads, if slowly, while its running calls keep adding replies may never empty the queue: each
   * reply it takes gives it another deadline.
   */
  private armUnreadDeadline(): void {
    const flushed = this.flushedReplies;
    this.unreadTimer = setTimeout(() => {
      if (this.flushedReplies > flushed) return this.armUnreadDeadline();
      this.onerror?.(new Error(`peer has not read its replies (${this.stream.writableLength} bytes queued) for ${UNREAD_REPLY_DEADLINE_MS / 1000} s; closing`));
      void this.close();
    }, UNREAD_REPLY_DEADLINE_MS).unref();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.write(JSON.stringify(message));
    if (('result' in message || 'error' in message) && 'id' in message && message.id !== undefined) this.answered(message.id);
  }

  async close(): Promise<void> {
    this.stream.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.unreadTimer);
    this.wakeIdle();
    this.onclose?.();
  }
}
