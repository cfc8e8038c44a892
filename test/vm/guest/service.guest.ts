// Runs inside the cgroup v2 VM (systemd as PID 1; test/vm/guest-suite.sh), never on the host: the
// real installation. install.sh, toolcell.socket, a client in the toolcell group through
// `toolcell connect`, limits enforced by cgroup v2 in the service's delegated cgroup, a network
// tool under the unit's hardening, a writable path under /srv, systemctl reload and stop,
// uninstall --purge; and nothing left.
// (Named *.guest.js so that the host's test runner does not pick it up.)
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { judgeNode } from '../../../src/runtime/node-support.js';
import { DAEMON_NODE_OPTIONS } from '../../../src/server/daemon-runtime.js';
import { pollUntil } from '../../helpers/daemon.js';
import { ROOT } from '../../helpers/paths.js';

const SOCKET = '/run/toolcell/mcp.sock';
const SERVICE_CGROUP = '/sys/fs/cgroup/system.slice/toolcell.service';
const CLIENT = 'tctest-client';
const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 300_000 });
const systemctl = (...args: string[]) => spawnSync('systemctl', args, { encoding: 'utf8', timeout: 120_000 });

async function connectAs(user: string): Promise<Client> {
  const client = new Client({ name: 'guest-test', version: '0' });
  await client.connect(new StdioClientTransport({ command: 'runuser', args: ['-u', user, '--', '/usr/bin/toolcell', 'connect'], stderr: 'inherit' }));
  return client;
}

type Structured = { stdout: string; stderr: string; reason: string | null; peakMemoryBytes: number | null; deniedEgress?: unknown[] };
function structured(r: unknown): Structured {
  const result = r as CallToolResult;
  assert.ok(result.structuredContent, JSON.stringify(result.content));
  const s = result.structuredContent as Structured;
  assert.notEqual(s.reason, 'setup', `the sandbox could not be set up: ${s.stderr}`);
  return s;
}

describe('the installed service under systemd (cgroup v2)', { timeout: 900_000 }, () => {
  let client: Client;
  before(() => {
    const r = sh(`sh ${ROOT}scripts/install.sh`);
    assert.equal(r.status, 0, r.stderr);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', 'toolcell', CLIENT]);
  });
  after(async () => {
    await client?.close().catch(() => undefined);
    spawnSync('userdel', [CLIENT]);
  });
  // For whoever reads a failure in the VM's output: what the daemon said.
  after(() => console.log(`journal of toolcell.service (last lines):\n${sh('journalctl -u toolcell.service -o cat | tail -n 25').stdout}`));

  test('install.sh leaves toolcell.socket listening (0660, group toolcell) and the daemon not yet started', () => {
    assert.equal(systemctl('is-active', 'toolcell.socket').stdout.trim(), 'active');
    assert.equal(systemctl('is-active', 'toolcell.service').stdout.trim(), 'inactive');
    const st = statSync(SOCKET);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(execFileSync('getent', ['group', 'toolcell'], { encoding: 'utf8' }).split(':')[2], String(st.gid));
    console.log(`systemd-analyze security: ${systemctl('show', '-p', 'Id', 'toolcell.service').stdout.trim()} ${sh('systemd-analyze security toolcell.service | tail -n 1').stdout.trim()}`);
    // The guest's node is the host's (Node 20 on Debian 12 hosts, past its end of life): install.sh
    // then installs the pinned runtime from the checkout's node_modules, offline, and the unit runs it.
    const systemNode = sh('command -v node').stdout.trim();
    const expected = judgeNode(process.version, new Date()).supported ? systemNode : '/usr/lib/toolcell/node/bin/node';
    assert.match(systemctl('show', '-p', 'ExecStart', '--value', 'toolcell.service').stdout, new RegExp(`path=${expected} ; argv\\[\\]=${expected} ${DAEMON_NODE_OPTIONS.join(' ')} /usr/lib/toolcell/bin/toolcell.js serve --config /etc/toolcell/toolcell.toml ;`));
    const doctor = sh('/usr/bin/toolcell doctor').stdout;
    console.log(doctor.split('\n').find((l) => l.includes(' runtime: ')));
    assert.match(doctor, new RegExp(`^ok {3}runtime: ${expected} v\\d+\\.\\d+\\.\\d+: LTS, supported until `, 'm'));
  });

  test('a member of the toolcell group calls a tool through toolcell connect; socket activation starts the daemon', async () => {
    client = await connectAs(CLIENT);
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['python', 'search', 'shell']);
    const r = await client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } });
    assert.equal(structured(r).stdout, '42\n');
    assert.equal(systemctl('is-active', 'toolcell.service').stdout.trim(), 'active');
    // Someone outside the group is refused by the kernel (socket mode 0660).
    const outsider = spawnSync('runuser', ['-u', 'nobody', '--', '/usr/bin/toolcell', 'connect'], { encoding: 'utf8', input: '', timeout: 60_000 });
    assert.equal(outsider.status, 1);
    assert.match(outsider.stderr, /EACCES/);
  });

  test("limits are enforced by cgroup v2 in the service's delegated cgroup", async () => {
    const running = client.callTool({ name: 'shell', arguments: { script: 'sleep 3; echo done' } });
    const parent = join(SERVICE_CGROUP, 'toolcell');
    assert.equal(await pollUntil(() => existsSync(parent) && readdirSync(parent).some((n) => /^\d+\.\d+-/.test(n)), 30_000), true);
    const id = readdirSync(parent).find((n) => /^\d+\.\d+-/.test(n))!;
    const read = (f: string) => readFileSync(join(parent, id, f), 'utf8').trim();
    // The limits are written before bwrap joins the cgroup: once it is in, they are all there
    // (pids: the profile's 64 and one for bwrap's monitor).
    assert.equal(await pollUntil(() => read('cgroup.procs') !== '', 30_000), true);
    assert.deepEqual([read('memory.max'), read('memory.swap.max'), read('pids.max'), read('cpu.max')], ['268435456', '0', '65', '100000 100000']);
    assert.equal(structured(await running).stdout, 'done\n');
    const bomb = await client.callTool({ name: 'python', arguments: { code: 'b = []\nfor _ in range(1024): b.append(bytearray(1 << 20))\nprint("survived")' } });
    assert.equal(structured(bomb).reason, 'memory');
    assert.ok((structured(bomb).peakMemoryBytes ?? Infinity) <= 256 * 1024 * 1024 + 4096);
  });

  test('systemctl reload brings in a new profile (and its user) without dropping the connection; its network works under the hardening', async () => {
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    writeFileSync(
      '/etc/toolcell/tools/netprobe.toml',
      [
        'description = "connect to two addresses"',
        'command = ["/usr/bin/python3", "-I", "-c", "import socket\\nfor h in (\\"192.0.2.1\\", \\"192.0.2.2\\"):\\n    s = socket.socket(); s.settimeout(2)\\n    try:\\n        s.connect((h, 80)); print(h, \\"ok\\")\\n    except OSError as e:\\n        print(h, \\"errno\\", e.errno)"]',
        '[filesystem]',
        'read_only = ["/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"]',
        '[network]',
        'allow = ["192.0.2.1:80"]',
        '',
      ].join('\n'),
    );
    const r = systemctl('reload', 'toolcell.service');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await pollUntil(() => changed > 0, 30_000), true, 'tools/list_changed');
    // The directory watch may reload first, before `systemctl reload` has made the tool's user;
    // the reload that follows serves it.
    const names = async () => (await client.listTools()).tools.map((t) => t.name).sort();
    assert.equal(await pollUntil(async () => (await names()).includes('netprobe'), 30_000, 500), true);
    assert.deepEqual(await names(), ['netprobe', 'python', 'search', 'shell']);
    const probe = structured(await client.callTool({ name: 'netprobe', arguments: {} }));
    // 192.0.2.1 passes both walls and finds no route on this VM (it has no network); 192.0.2.2 is refused inside.
    assert.deepEqual(probe.stdout.trim().split('\n').slice(1), ['192.0.2.2 errno 113']);
    assert.doesNotMatch(probe.stdout, /192\.0\.2\.1 errno 113/);
    assert.deepEqual(probe.deniedEgress, [{ destination: '192.0.2.2', protocol: 'tcp', port: 80, packets: 1 }]);
  });

  test('a writable path under /srv is writable in the sandbox: what the tool writes lands on the host', async () => {
    // ProtectSystem=strict made the daemon's whole tree read-only, and bwrap's bind kept the flag:
    // the tool got EROFS. The directory exists before the profile (its user comes with the reload).
    mkdirSync('/srv/reports', { recursive: true });
    writeFileSync(
      '/etc/toolcell/tools/reporter.toml',
      [
        'description = "write a report"',
        'command = ["/bin/sh", "-c", "echo written in the sandbox > /work/out/report.txt && echo wrote"]',
        '[filesystem]',
        'read_only = ["/usr", "/lib", "/lib64", "/bin"]',
        'writable = ["/srv/reports:/work/out"]',
        '',
      ].join('\n'),
    );
    const r = systemctl('reload', 'toolcell.service');
    assert.equal(r.status, 0, r.stderr);
    const user = execFileSync('id', ['-u', 'tc-reporter'], { encoding: 'utf8' }).trim();
    chownSync('/srv/reports', Number(user), Number(execFileSync('id', ['-g', 'tc-reporter'], { encoding: 'utf8' }).trim()));
    const names = async () => (await client.listTools()).tools.map((t) => t.name);
    assert.equal(await pollUntil(async () => (await names()).includes('reporter'), 30_000, 500), true);
    const s = structured(await client.callTool({ name: 'reporter', arguments: {} }));
    assert.deepEqual([s.stdout, s.stderr], ['wrote\n', '']);
    assert.equal(readFileSync('/srv/reports/report.txt', 'utf8'), 'written in the sandbox\n');
    assert.equal(String(statSync('/srv/reports/report.txt').uid), user);
  });

  test('a restart keeps the socket: the next connection is served by the new daemon', async () => {
    await client.close();
    const before = systemctl('show', '-p', 'MainPID', '--value', 'toolcell.service').stdout.trim();
    const r = systemctl('restart', 'toolcell.service');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(SOCKET).mode & 0o777, 0o660, 'the socket file was never removed');
    client = await connectAs(CLIENT);
    assert.equal(structured(await client.callTool({ name: 'python', arguments: { code: 'print(6*7)' } })).stdout, '42\n');
    assert.notEqual(systemctl('show', '-p', 'MainPID', '--value', 'toolcell.service').stdout.trim(), before);
  });

  test('systemctl stop leaves nothing: no daemon, no sandbox, no cgroup, no socket, no host table', async () => {
    await client.close();
    const r = systemctl('stop', 'toolcell.service', 'toolcell.socket');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(systemctl('is-active', 'toolcell.service').stdout.trim(), 'inactive');
    assert.equal(existsSync(SOCKET), false);
    assert.equal(existsSync(SERVICE_CGROUP), false);
    assert.equal(sh('ps -eo user= | grep -c "^tc-" || true').stdout.trim(), '0', sh('ps -eo pid,ppid,user,stat,wchan:24,cgroup:70,args | grep -E "^ *[0-9]+ +[0-9]+ tc-" || true').stdout);
    assert.doesNotMatch(sh('nft list tables').stdout, /toolcell_\d/);
    assert.match(sh('journalctl -u toolcell.service -o cat').stdout, /switched IPv4 forwarding on for sandbox networks/);
  });

  test('uninstall.sh --purge removes the program, the configuration and the users', () => {
    const r = sh(`sh ${ROOT}scripts/uninstall.sh --purge`);
    assert.equal(r.status, 0, r.stderr);
    for (const p of ['/usr/lib/toolcell', '/usr/bin/toolcell', '/etc/toolcell', '/usr/lib/systemd/system/toolcell.service', '/run/toolcell']) assert.equal(existsSync(p), false, p);
    for (const u of ['tc-python', 'tc-shell', 'tc-search', 'tc-netprobe', 'tc-reporter']) assert.notEqual(spawnSync('id', [u]).status, 0, u);
    assert.notEqual(spawnSync('getent', ['group', 'toolcell']).status, 0);
  });
});
