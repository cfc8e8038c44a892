// One MCP server per connection: tools/list from the loaded profiles, tools/call through the
// invocation lifecycle. Tool failures are results with isError; refused arguments and unknown
// tools are JSON-RPC InvalidParams errors.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { canonicalDigest, InvalidArgumentsError, loggedCaller, InvocationAbortedError, runInvocation } from '../invocation/run-invocation.js';
import { HostResolveError } from '../linux/resolve-hosts.js';
import { describeToolResult, isFailure, structuredResult, type ToolResult } from '../invocation/tool-result.js';
import type { ServedTool } from '../profile/load-tools.js';
import type { Profile } from '../profile/profile.js';
import { toolMetadata } from '../profile/tool-metadata.js';
import { LineTransport } from './line-transport.js';
import { mayUse, type Caller } from './caller.js';
import { linkSignals } from './linked-signal.js';
import type { RefusalLog } from './refusal-log.js';
import type { CheckPenalties } from './check-penalties.js';
import { PATTERN_CHECK_STOPPED } from '../invocation/validate-arguments.js';
import type { Admission } from './admission.js';
import type { ReadyPool } from '../invocation/ready-pool.js';

const MAX_LOGGED_PROBLEMS = 10;

export interface ToolSource {
  /** The current tools; read at every request so a reload takes effect for the next call. */
  tools(): ReadonlyMap<string, ServedTool>;
  readonly logger: Logger;
  /** Aborted with reason "shutdown" when the daemon stops (after the drain). */
  readonly shutdown: AbortSignal;
  /** True once the daemon stops: running calls may finish, new ones are not started. */
  draining(): boolean;
  readonly maxMessageBytes: number;
  readonly maxMessagesPerSecond: number;
  readonly admission: Admission;
  /** Refusal lines, bounded per uid. */
  readonly refusals: RefusalLog;
  /** Callers whose arguments stopped a tool's pattern check, refused that tool for a while. */
  readonly penalties: CheckPenalties;
  /** Sandboxes built ahead of demand; a call takes one when it can. */
  readonly pool?: ReadyPool;
  /** Takes each call's teardown and audit line, so the answer does not wait for them. */
  readonly background?: (work: Promise<void>) => void;
  readonly version: string;
}

/**
 * A JSON-RPC InvalidParams error whose wire message is just `message`: the SDK sends a thrown
 * error's code, message and data, and McpError's message already starts with "MCP error -32602: ",
 * which a client that wraps it in its own McpError then shows twice.
 */
function invalidParams(message: string, data?: unknown): Error {
  return Object.assign(new Error(message), { code: ErrorCode.InvalidParams, ...(data === undefined ? {} : { data }) });
}

function toTool(p: Profile): Tool {
  return { name: p.name, ...toolMetadata(p), inputSchema: p.input as Tool['inputSchema'] };
}

function toCallToolResult(r: ToolResult): CallToolResult {
  return { content: [{ type: 'text', text: describeToolResult(r) }], isError: isFailure(r), structuredContent: structuredResult(r) };
}

export interface Connection {
  readonly transport: LineTransport;
  /** Tells the client that tools/list has changed (after a reload). */
  toolsChanged(): void;
}

/**
 * One MCP server for one connection. `caller` is who connected (resolved while the first messages
 * may already arrive): it sees and calls only the tools whose [callers] admit it, and a tool it may
 * not use is answered exactly like a tool that does not exist.
 */
export function serveConnection(stream: Duplex, source: ToolSource, log: Logger, caller: Promise<Caller>): Connection {
  const server = new Server({ name: 'toolcell', version: source.version }, { capabilities: { tools: { listChanged: true } } });

  const usable = async (): Promise<ReadonlyMap<string, ServedTool>> => {
    const who = await caller;
    return new Map([...source.tools()].filter(([, t]) => mayUse(t.profile.callers, who)));
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [...(await usable()).values()].map((t) => toTool(t.profile)),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args = {} } = request.params;
    const tool = (await usable()).get(name);
    if (!tool) throw invalidParams(`Unknown tool: ${name}`);
    if (source.draining()) {
      log.info({ tool: name }, 'call refused: the daemon is stopping');
      return { content: [{ type: 'text', text: 'toolcell: the daemon is stopping; the call was not started (call again once it is back)' }], isError: true };
    }
    const who = await caller;
    const refused = { tool: name, caller: loggedCaller(who) };
    const penaltyMs = source.penalties.remainingMs(who.uid, name);
    if (penaltyMs > 0) {
      source.refusals.write(who.uid, `arguments ${name}`, log, 'warn', { ...refused, penaltyMs: Math.ceil(penaltyMs) }, 'call refused: a check of this caller\'s arguments was stopped');
      throw invalidParams(`Invalid arguments for tool ${name}: arguments: a check of your arguments for this tool ran into its time limit; its calls are refused for ${Math.ceil(penaltyMs / 1000)} s more`);
    }
    const ticket = await source.admission.enter(who.uid, who.user, extra.signal);
    if ('limit' in ticket) {
      source.refusals.write(who.uid, `limit ${name}`, log, 'info', { ...refused, refused: ticket.limit }, 'call refused by a limit');
      return { content: [{ type: 'text', text: `toolcell: ${ticket.message}` }], isError: true, structuredContent: { refused: { limit: ticket.limit, value: ticket.value } } };
    }
    // The SDK aborts extra.signal on notifications/cancelled and when the connection closes.
    const abort = linkSignals([extra.signal, source.shutdown]);
    try {
      const progressToken = request.params._meta?.progressToken;
      const result = await runInvocation(tool, args, {
        logger: log,
        pool: source.pool,
        background: source.background,
        caller: who,
        // The client asked for progress: elapsed time and output so far, once a second.
        ...(progressToken === undefined
          ? {}
          : {
              onProgress: (p: { elapsedMs: number; outputBytes: number }) =>
                void extra
                  .sendNotification({ method: 'notifications/progress', params: { progressToken, progress: p.elapsedMs, message: `running for ${Math.round(p.elapsedMs / 1000)} s, ${p.outputBytes} bytes of output` } })
                  .catch(() => undefined),
            }),
        signal: abort.signal,
      });
      return toCallToolResult(result);
    } catch (e) {
      if (e instanceof InvalidArgumentsError) {
        // The attempt is recorded as a call is (an option injection refused leaves a trace),
        // without the values; a problem names at most an unknown argument, cut short.
        if (e.problems.includes(PATTERN_CHECK_STOPPED)) source.penalties.penalize(who.uid, name);
        const problems = e.problems.slice(0, MAX_LOGGED_PROBLEMS).map((p) => p.slice(0, 200));
        source.refusals.write(who.uid, `arguments ${name}`, log, 'warn', { ...refused, argsSha256: canonicalDigest(args), problems }, 'call refused: invalid arguments');
        throw invalidParams(`Invalid arguments for tool ${name}: ${e.message}`, { problems: e.problems });
      }
      if (e instanceof InvocationAbortedError) {
        log.info({ tool: name, reason: e.reason }, 'call aborted before its sandbox started');
        return { content: [{ type: 'text', text: `toolcell: ${e.message}` }], isError: true };
      }
      const ref = randomUUID();
      log.error({ tool: name, err: e, ref }, 'invocation failed');
      // The reason stays in the log: it names the host's paths, users and cgroups (a writable path
      // missing, a symlink and what it resolves to). A name that did not resolve is the caller's to know.
      const why = e instanceof HostResolveError ? `: ${e.message}` : `; the daemon's log has why (ref ${ref})`;
      return { content: [{ type: 'text', text: `toolcell: the sandbox could not be run${why}` }], isError: true };
    } finally {
      abort.unlink();
      ticket.release();
    }
  });

  server.onerror = (e) => log.debug({ err: e }, 'connection error');
  const transport = new LineTransport(stream, source.maxMessageBytes, source.maxMessagesPerSecond);
  void server.connect(transport);
  return {
    transport,
    toolsChanged: () => {
      server.sendToolListChanged().catch((e: Error) => log.debug({ err: e }, 'tools/list_changed not sent'));
    },
  };
}
