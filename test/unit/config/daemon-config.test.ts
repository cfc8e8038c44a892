// toolcell.toml: defaults, and errors that name the file, line and key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadDaemonConfig } from '../../../src/config/daemon-config.js';

const dir = mkdtempSync(join(tmpdir(), 'tc-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(file, text);
  return file;
}

describe('toolcell.toml', () => {
  test('an empty file gives the defaults', async () => {
    const c = await loadDaemonConfig(configFile(''));
    assert.deepEqual(
      { socket: c.socket, client_group: c.client_group, max_message_bytes: c.max_message_bytes, log_level: c.log_level, cgroup_root: c.cgroup_root },
      { socket: '/run/toolcell/mcp.sock', client_group: 'toolcell', max_message_bytes: 4 * 1024 * 1024, log_level: 'info', cgroup_root: undefined },
    );
  });

  test('network pools default to 10.213.0.0/16 and fd74:6f6f:6c63::/64', async () => {
    const c = await loadDaemonConfig(configFile('network_pool = "172.30.0.0/20"\n'));
    assert.deepEqual([c.network_pool, c.network_pool6], [
      { family: 4, address: '172.30.0.0', prefix: 20 },
      { family: 6, address: 'fd74:6f6f:6c63::', prefix: 64 },
    ]);
  });

  test('durations up to the longest timer are taken, in ms or with a unit', async () => {
    const c = await loadDaemonConfig(configFile('drain_timeout = 2147483647\nready_max_age = "35791m"\n'));
    assert.deepEqual([c.drain_timeout, c.ready_max_age], [2 ** 31 - 1, 35791 * 60_000]);
  });

  test('cgroup_root takes an absolute cgroup path', async () => {
    assert.equal((await loadDaemonConfig(configFile('cgroup_root = "/toolcell.slice/x"\n'))).cgroup_root, '/toolcell.slice/x');
  });

  test('$TOOLCELL_CONFIG names the file when --config does not; --config wins', async () => {
    const named = configFile('log_level = "debug"\n');
    assert.equal((await loadDaemonConfig(undefined, { TOOLCELL_CONFIG: named })).log_level, 'debug');
    assert.equal((await loadDaemonConfig(configFile(''), { TOOLCELL_CONFIG: named })).log_level, 'info');
  });

  test('a file $TOOLCELL_CONFIG names must exist: the error says where the name came from', async () => {
    const missing = join(dir, 'missing.toml');
    await assert.rejects(loadDaemonConfig(undefined, { TOOLCELL_CONFIG: missing }), (e: Error) => e instanceof ConfigError && e.message.startsWith(`${missing} (named by $TOOLCELL_CONFIG): cannot read: ENOENT`));
    await assert.rejects(loadDaemonConfig(missing, {}), (e: Error) => e instanceof ConfigError && e.message.startsWith(`${missing}: cannot read: ENOENT`));
  });

  for (const [text, message] of [
    ['log_level = "info"\ncgroup_root = "toolcell"\n', ':2: cgroup_root: expected an absolute cgroup path like "/toolcell"'],
    ['cgroup_root = "/a/../b"\n', ':1: cgroup_root: may not contain ".."'],
    ['\n\nsockett = "/x"\n', ':3: sockett: unknown key'],
    ['max_message_bytes = "lots"\n', ':1: max_message_bytes: expected a size like "4M", got "lots"'],
    ['network_pool = "10.1.2.3/16"\n', ':1: network_pool: 10.1.2.3/16 has host bits set; the block is 10.1.0.0/16'],
    ['network_pool = "fd00::/64"\n', ':1: network_pool: expected an IPv4 block like "10.213.0.0/16"'],
    ['network_pool6 = "pool"\n', ':1: network_pool6: "pool" is not an IP address'],
    // Both end in a setTimeout, which fires after 1 ms for anything longer.
    ['drain_timeout = "36000m"\n', ':1: drain_timeout: must be at most 2147483647 ms (24.8 days, the longest a timer can wait), got "36000m"'],
    ['\nready_max_age = 2147483648\n', ':2: ready_max_age: must be at most 2147483647 ms (24.8 days, the longest a timer can wait), got 2147483648'],
  ] as const) {
    test(`refused: ${JSON.stringify(text)}`, async () => {
      const file = configFile(text);
      await assert.rejects(loadDaemonConfig(file), (e: Error) => e instanceof ConfigError && e.message === `${file}${message}`);
    });
  }
});
