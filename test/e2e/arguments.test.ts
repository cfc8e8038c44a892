// Hostile arguments are refused before anything runs, as JSON-RPC InvalidParams errors (never as
// tool results): schema violations, unknown tools, option injection and NUL bytes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason, createToolUsers } from '../helpers/fixtures.js';
import { closeQuietly, connectClient, makeToolsDir, pollUntil, removeDir, SLOWDOWN, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';

const skip = realKernelSkipReason();

/** A tool without allow_leading_dash: its argument must never start with "-". */
const ECHO_TOML = `description = "Print one text argument."
command = ["/usr/bin/printf", "%s|", "{text}"]

[input]
type = "object"
required = ["text"]
properties.text = { type = "string", maxLength = 1024 }

[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin"]
tmpfs = ["/tmp:1M"]

[limits]
timeout = "10s"
`;

/** The same tool with an admin's backtracking pattern: 40 hostile characters take hours unbounded. */
const SLOWPAT_TOML = ECHO_TOML.replace('properties.text = { type = "string", maxLength = 1024 }', 'properties.text = { type = "string", pattern = "^([a-z0-9]+-?)+$" }');

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The client's McpError says "MCP error -32602: " before the wire message, once (the daemon's wire
 * message has no prefix of its own); `text` is the rest, exactly (a string) or from its start (a
 * RegExp source).
 */
function isInvalidParams(text: string | RegExp, problems?: readonly string[]) {
  return (e: unknown): true => {
    assert.ok(e instanceof McpError, `an McpError, got ${String(e)}`);
    assert.equal(e.code, ErrorCode.InvalidParams);
    assert.equal(e.code, -32602);
    const rest = typeof text === 'string' ? `${escape(text)}$` : text.source;
    assert.match(e.message, new RegExp(`^MCP error -32602: ${rest}`));
    if (problems) assert.deepEqual((e.data as { problems?: unknown } | undefined)?.problems, problems);
    return true;
  };
}

describe('e2e: argument refusal as JSON-RPC errors', { skip }, () => {
  let tools: string | undefined;
  let daemon: Daemon | undefined;
  let conn: DirectClient | undefined;
  let removeUsers: (() => Promise<void>) | undefined;

  before(async () => {
    removeUsers = await createToolUsers(['echo', 'slowpat']);
    tools = makeToolsDir({ 'echo.toml': ECHO_TOML, 'slowpat.toml': SLOWPAT_TOML });
    daemon = await startDaemon({ tools });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
    removeDir(tools);
    await removeUsers?.();
  });

  const call = (name: string, args: Record<string, unknown>) => conn!.client.callTool({ name, arguments: args });

  test('the test tool works with a harmless value', async () => {
    const r = (await call('echo', { text: 'hello world' })) as CallToolResult;
    assert.equal(r.isError, false);
    assert.deepEqual(r.content, [{ type: 'text', text: 'hello world|' }]);
  });

  test('a missing required argument is refused', async () => {
    await assert.rejects(
      call('python', {}),
      isInvalidParams("Invalid arguments for tool python: arguments: must have required property 'code'", [
        "arguments: must have required property 'code'",
      ]),
    );
  });

  test('an unknown extra argument is refused', async () => {
    await assert.rejects(
      call('python', { code: 'print(1)', extra: 'x' }),
      isInvalidParams('Invalid arguments for tool python: arguments: unknown argument "extra"', [
        'arguments: unknown argument "extra"',
      ]),
    );
  });

  test('an argument of the wrong type is refused', async () => {
    await assert.rejects(
      call('python', { code: 42 }),
      isInvalidParams('Invalid arguments for tool python: argument code: must be string', ['argument code: must be string']),
    );
  });

  test('an argument over the schema maxLength is refused', async () => {
    await assert.rejects(call('echo', { text: 'x'.repeat(1025) }), isInvalidParams(/Invalid arguments for tool echo: argument text: must NOT have more than 1024 characters/));
  });

  test('an unknown tool name is refused', async () => {
    await assert.rejects(call('nope', {}), isInvalidParams('Unknown tool: nope'));
  });

  test('a value starting with "-" is refused where the profile does not allow it (option injection)', async () => {
    await assert.rejects(
      call('echo', { text: '--help' }),
      isInvalidParams(/Invalid arguments for tool echo: argument "text": starts with "-" \(refused: it could be read as an option/),
    );
    await assert.rejects(call('echo', { text: '-n' }), isInvalidParams(/Invalid arguments for tool echo: argument "text": starts with "-"/));
    // Each attempt leaves an audit line: who, which tool, the digest of the arguments, the problem;
    // never the value.
    const refused = () => daemon!.stdout.split('\n').filter((l) => l.includes('"msg":"call refused: invalid arguments"')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.tool === 'echo' && String((l.problems as string[])[0]).startsWith('argument "text": starts with "-"'));
    assert.ok(await pollUntil(() => refused().length >= 2, 5000 * SLOWDOWN), daemon!.stdout);
    const [help] = refused();
    assert.equal(help!.level, 40);
    assert.equal(help!.tool, 'echo');
    assert.equal((help!.caller as { uid: number }).uid, process.getuid!());
    assert.match(String(help!.argsSha256), /^[0-9a-f]{64}$/);
    assert.equal((help!.problems as string[]).length, 1);
    assert.equal(daemon!.stdout.includes('--help'), false, 'the value never reaches the log');
    // A dash later in the value is data, not an option.
    const r = (await call('echo', { text: 'a-b' })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: 'a-b|' }]);
  });

  test('a script starting with "-" is run as script text by the bundled shell (allow_leading_dash), not read as a bash option', async () => {
    // allow_leading_dash promises the value is never read as an option. bash -c takes options up to
    // its first non-option argument, so a script "-v" must reach bash after a "--" to stay a script.
    const r = (await call('shell', { script: '-v' })) as CallToolResult;
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(s.reason, null);
    assert.equal(s.exitCode, 127);
    assert.equal(s.stdout, '');
    assert.equal(s.stderr, 'toolcell-shell: line 1: -v: command not found\n', 'bash ran "-v" as the script, not as its verbose option');
  });

  test('a NUL byte is refused', async () => {
    await assert.rejects(
      call('echo', { text: 'a\u0000b' }),
      isInvalidParams('Invalid arguments for tool echo: argument "text": contains a NUL byte'),
    );
    await assert.rejects(
      call('shell', { script: 'echo a\u0000; id' }),
      isInvalidParams('Invalid arguments for tool shell: argument "script": contains a NUL byte'),
    );
  });

  test('the connection still serves calls after the refusals', async () => {
    const r = (await call('python', { code: 'print(6*7)' })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: '42\n' }]);
  });
  test('a pattern that backtracks is stopped after 100 ms; the caller is then refused that tool for 10 s, other tools not', async () => {
    assert.ok(SLOWPAT_TOML.includes('pattern'));
    const started = performance.now();
    await assert.rejects(
      call('slowpat', { text: `${'a'.repeat(40)}!` }),
      isInvalidParams("Invalid arguments for tool slowpat: arguments: the input schema's patterns took over 100 ms on these arguments and were stopped (a pattern that backtracks; see [input] in the tool's profile)"),
    );
    assert.ok(performance.now() - started < 5000 * SLOWDOWN, 'stopped, not run for hours');
    // Even a value the pattern takes at once: refused without a check, so hostile calls back to
    // back cannot hold the event loop 100 ms each.
    await assert.rejects(call('slowpat', { text: 'build-01' }), isInvalidParams(/Invalid arguments for tool slowpat: arguments: a check of your arguments for this tool ran into its time limit; its calls are refused for (10|9|8) s more$/));
    const r = (await call('echo', { text: 'still served' })) as CallToolResult;
    assert.deepEqual(r.content, [{ type: 'text', text: 'still served|' }]);
  });
});
