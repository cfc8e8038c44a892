// The bundled tools through a real daemon and the official SDK client on its socket: what
// tools/list publishes, and what one call of each tool returns.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';
import { PROFILES } from '../helpers/paths.js';
import { closeQuietly, connectClient, startDaemon, type Daemon, type DirectClient } from '../helpers/daemon.js';

const skip = realKernelSkipReason();

function textOf(r: CallToolResult): string {
  assert.equal(r.content.length, 1, 'one content item');
  const item = r.content[0]!;
  assert.equal(item.type, 'text');
  return (item as { text: string }).text;
}

describe('e2e: the bundled tools over the socket', { skip }, () => {
  let daemon: Daemon | undefined;
  let conn: DirectClient | undefined;

  before(async () => {
    daemon = await startDaemon({ tools: PROFILES });
    conn = await connectClient(daemon.socket);
  });
  after(async () => {
    await closeQuietly(conn?.client);
    await daemon?.stop();
  });

  test('initialize reports the toolcell server with the tools capability', () => {
    assert.deepEqual(conn!.client.getServerVersion(), { name: 'toolcell', version: '0.1.0' });
    assert.deepEqual(conn!.client.getServerCapabilities(), { tools: { listChanged: true } });
  });

  test('tools/list gives python, search and shell with their descriptions and strict input schemas', async () => {
    const { tools } = await conn!.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ['python', 'search', 'shell']);

    assert.equal(
      byName.get('python')!.description,
      'Run a Python 3 snippet and return what it prints. No network; /tmp is a fresh scratch directory; 30 s.\n[toolcell sandbox: no network; host files read-only; 256M memory, 30 s]',
    );
    // Annotations follow the profile: nothing host-side writable, no egress.
    assert.deepEqual(byName.get('python')!.annotations, { readOnlyHint: true, destructiveHint: false, openWorldHint: false });
    assert.deepEqual(byName.get('python')!.inputSchema, {
      type: 'object',
      required: ['code'],
      properties: { code: { type: 'string', description: 'Python 3 source code to run', maxLength: 65536 } },
      additionalProperties: false,
    });

    assert.equal(
      byName.get('search')!.description,
      'Search the files under /data for lines matching a regular expression (grep -E). Returns file:line:text, at most 200 matches per file.\n[toolcell sandbox: no network; host files read-only; 128M memory, 20 s]',
    );
    assert.deepEqual(byName.get('search')!.inputSchema, {
      type: 'object',
      required: ['pattern'],
      properties: { pattern: { type: 'string', description: 'extended regular expression', minLength: 1, maxLength: 1024 } },
      additionalProperties: false,
    });

    assert.equal(
      byName.get('shell')!.description,
      'Run a bash script in a fresh, empty /work directory and return its output. No network; nothing persists between calls; 30 s.\n[toolcell sandbox: no network; host files read-only; 256M memory, 30 s]',
    );
    assert.deepEqual(byName.get('shell')!.inputSchema, {
      type: 'object',
      required: ['script'],
      properties: { script: { type: 'string', description: 'bash script to run', maxLength: 65536 } },
      additionalProperties: false,
    });
  });

  test('python {"code":"print(6*7)"} returns "42\\n" and exit code 0', async () => {
    const r = (await conn!.client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })) as CallToolResult;
    assert.equal(textOf(r), '42\n');
    assert.equal(r.isError, false);
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(s.exitCode, 0);
    assert.equal(s.signal, null);
    assert.equal(s.reason, null);
    assert.equal(s.stdout, '42\n');
    assert.equal(s.stderr, '');
    assert.equal(s.stdoutTruncated, false);
    assert.equal(s.stderrTruncated, false);
    assert.equal(s.stdoutBytes, 3);
    assert.equal(s.stderrBytes, 0);
    assert.match(String(s.invocationId), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof s.durationMs, 'number');
  });

  test('a client that asks for progress gets elapsed time and output bytes once a second', async () => {
    const seen: { progress: number; message?: string }[] = [];
    const r = (await conn!.client.callTool({ name: 'shell', arguments: { script: 'echo started; sleep 3.5; echo done' } }, undefined, {
      onprogress: (p) => void seen.push(p),
    })) as CallToolResult;
    assert.equal(textOf(r), 'started\ndone\n');
    assert.ok(seen.length >= 2, `progress notifications: ${JSON.stringify(seen)}`);
    assert.ok(seen.every((p, i) => i === 0 || p.progress > seen[i - 1]!.progress), 'progress only grows');
    // Each says the output so far: on a loaded machine the first may come before bash has written
    // a byte, the last after "done"; while it sleeps, "started" is out.
    for (const p of seen) {
      const [, seconds, bytes] = /^running for (\d+) s, (\d+) bytes of output$/.exec(p.message ?? '') ?? [];
      assert.equal(Number(seconds), Math.round(p.progress / 1000), p.message);
      assert.ok(['0', '8', '13'].includes(bytes!), p.message);
    }
    assert.ok(seen.some((p) => p.message?.endsWith(' 8 bytes of output')), JSON.stringify(seen));
  });

  test('shell "cat /etc/shadow" fails with ENOENT and never shows the host file', async () => {
    const r = (await conn!.client.callTool({ name: 'shell', arguments: { script: 'cat /etc/shadow' } })) as CallToolResult;
    const text = textOf(r);
    assert.equal(r.isError, true);
    assert.equal(text, '[stderr]\ncat: /etc/shadow: No such file or directory\n[toolcell: exit status 1]');
    assert.ok(text.includes('No such file or directory'));
    assert.ok(!text.includes('root:'), 'no line of the host /etc/shadow');
    const s = r.structuredContent as Record<string, unknown>;
    assert.equal(s.exitCode, 1);
    assert.equal(s.reason, null);
    assert.equal(s.stdout, '');
    assert.equal(s.stderr, 'cat: /etc/shadow: No such file or directory\n');
  });

  test('search finds the bubblewrap documentation under /data, exactly as grep on the host does', async () => {
    const r = (await conn!.client.callTool({ name: 'search', arguments: { pattern: 'bubblewrap' } })) as CallToolResult;
    // The same grep on the host, with the host path rewritten to the sandbox's /data.
    const host = execFileSync('/usr/bin/grep', ['-rnIE', '--max-count=200', '--color=never', '-e', 'bubblewrap', '--', '/usr/share/doc'], {
      encoding: 'utf8',
    }).replaceAll(/^\/usr\/share\/doc\//gm, '/data/');
    const text = textOf(r);
    assert.equal(r.isError, false);
    assert.equal((r.structuredContent as Record<string, unknown>).exitCode, 0);
    const lines = text.split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 0, 'bubblewrap is installed, so /usr/share/doc/bubblewrap matches');
    for (const line of lines) assert.ok(line.startsWith('/data/'), `line starts with /data/: ${line}`);
    assert.ok(lines.some((l) => l.startsWith('/data/bubblewrap/')), 'the bubblewrap package documentation is found');
    assert.equal(text, host);
  });
});
