// The bwrap argv *is* the security model: each bundled profile's argv, planned against a fixed
// host, is checked in as test/golden/<tool>.argv.json so that a policy change shows in review.
// UPDATE_GOLDEN=1 rewrites the files. The properties the argv must have are also asserted one by
// one below, so a reviewer sees *why* a line is there.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BWRAP_PATH, CONTROL_FDS, encodeArgv, toBwrapCommand } from '../../../src/plan/bwrap-command.js';
import type { HostFacts, PathFact } from '../../../src/plan/host-facts.js';
import { DEFAULT_PATH, DEV_SHM_SIZE, EXEC_HELPER_DEST, PlanError, planSandbox } from '../../../src/plan/sandbox-plan.js';
import { profileFrom } from '../../helpers/fixtures.js';
import { checkGolden } from '../../helpers/golden.js';
import { bundled, FACTS } from '../../helpers/host-fixture.js';

const dir = (real: string): PathFact => ({ type: 'directory', real });

const SAMPLES: readonly { tool: string; args: Record<string, unknown>; tail: string[] }[] = [
  { tool: 'python', args: { code: 'print(6 * 7)' }, tail: ['/usr/bin/python3', '-I', '-S', '-c', 'print(6 * 7)'] },
  { tool: 'shell', args: { script: 'echo "$HOME"; ls -la' }, tail: ['/bin/bash', '--noprofile', '--norc', '-c', '--', 'echo "$HOME"; ls -la', 'toolcell-shell'] },
  { tool: 'search', args: { pattern: '-TODO|FIXME' }, tail: ['/usr/bin/grep', '-rnIE', '--max-count=200', '--color=never', '-e', '-TODO|FIXME', '--', '/data'] },
];

/** The values following each occurrence of `flag`, as [value1, value2, ...] tuples of `arity`. */
function occurrences(argv: readonly string[], flag: string, arity: number): string[][] {
  const out: string[][] = [];
  const end = argv.indexOf('--');
  for (let i = 0; i < end; i++) if (argv[i] === flag) out.push(argv.slice(i + 1, i + 1 + arity));
  return out;
}

describe('golden bwrap argv of the bundled profiles', () => {
  for (const { tool, args, tail } of SAMPLES) {
    describe(tool, () => {
      const plan = planSandbox(bundled(tool), args, FACTS);
      const command = toBwrapCommand(plan);
      const argv = command.argv;
      const sep = argv.indexOf('--');

      test(`matches test/golden/${tool}.argv.json`, () => {
        checkGolden(`${tool}.argv.json`, `${JSON.stringify(argv, null, 2)}\n`);
      });

      test('bwrap is run from its fixed path with an empty environment and fds 3/4', () => {
        assert.equal(command.file, BWRAP_PATH);
        assert.equal(command.file, '/usr/bin/bwrap');
        assert.deepEqual(command.env, {}); // bwrap's environment is readable inside as /proc/1/environ
        assert.deepEqual(command.fds, { info: 3, block: 4 });
        assert.deepEqual(CONTROL_FDS, { info: 3, block: 4 });
      });

      test('every namespace, nested user namespaces closed, no capabilities, a new session', () => {
        const head = argv.slice(0, sep);
        for (const flag of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--clearenv']) {
          assert.equal(head.filter((a) => a === flag).length, 1, `${flag} exactly once`);
        }
        // --disable-userns needs an explicit --unshare-user before it.
        assert.ok(head.indexOf('--unshare-user') < head.indexOf('--disable-userns'));
        assert.deepEqual(occurrences(argv, '--cap-drop', 1), [['ALL']]);
        assert.ok(!head.includes('--cap-add'), 'no capability is added back');
        assert.ok(!head.includes('--share-net'), 'the network namespace stays empty');
        assert.deepEqual(occurrences(argv, '--hostname', 1), [['toolcell']]);
      });

      test('the tool is held at --block-fd 4 and the daemon learns its pid from --info-fd 3', () => {
        assert.deepEqual(occurrences(argv, '--info-fd', 1), [['3']]);
        assert.deepEqual(occurrences(argv, '--block-fd', 1), [['4']]);
      });

      test('/proc, /dev and a sized /dev/shm come first', () => {
        const i = argv.indexOf('--proc');
        assert.deepEqual(argv.slice(i, i + 7), ['--proc', '/proc', '--dev', '/dev', '--size', String(DEV_SHM_SIZE), '--tmpfs']);
        assert.equal(argv[i + 7], '/dev/shm');
        assert.equal(DEV_SHM_SIZE, 16 * 1024 * 1024);
      });

      test('every tmpfs has a --size right before it', () => {
        for (let i = 0; i < sep; i++) {
          if (argv[i] === '--tmpfs') assert.equal(argv[i - 2], '--size', `tmpfs ${argv[i + 1]} has no size`);
        }
      });

      test('the host root is never bound and the sandbox root is frozen read-only after the mounts', () => {
        const binds = [...occurrences(argv, '--ro-bind', 2), ...occurrences(argv, '--bind', 2), ...occurrences(argv, '--dev-bind', 2)];
        assert.ok(!binds.some(([src]) => src === '/'), `no bind of "/": ${JSON.stringify(binds)}`);
        assert.ok(!binds.some(([, dest]) => dest === '/'), 'nothing is bound onto "/"');
        // bwrap's root and its /dev are tmpfs mounts the sandbox user could write: both frozen.
        assert.deepEqual(occurrences(argv, '--remount-ro', 1), [['/dev'], ['/']]);
        const remount = argv.indexOf('--remount-ro');
        const lastMount = Math.max(...['--ro-bind', '--bind', '--tmpfs', '--symlink', '--proc', '--dev'].map((f) => argv.lastIndexOf(f, sep)));
        assert.ok(remount > lastMount, '--remount-ro comes after every mount');
      });

      test('writable binds: none in the bundled profiles', () => {
        assert.deepEqual(occurrences(argv, '--bind', 2), []);
      });

      test('the environment is set explicitly, nothing inherited', () => {
        const envs = occurrences(argv, '--setenv', 2);
        // HOME: the profile's first tmpfs (every bundled profile has one).
        const home = plan.mounts.find((m) => m.op === 'tmpfs' && m.dest !== '/dev/shm')?.dest;
        assert.deepEqual(Object.fromEntries(envs), { HOME: home, LANG: 'C.UTF-8', PATH: DEFAULT_PATH });
        assert.ok(argv.indexOf('--clearenv') < argv.indexOf('--setenv'));
      });

      test('bwrap runs sandbox-exec, which gets the tool argv on stdin, one element per template element', () => {
        assert.deepEqual(argv.slice(sep + 1), [EXEC_HELPER_DEST]);
        assert.deepEqual(occurrences(argv, '--ro-bind', 2).filter(([, d]) => d === EXEC_HELPER_DEST), [[FACTS.execHelper, EXEC_HELPER_DEST]]);
        assert.deepEqual(plan.argv, tail);
        assert.equal(encodeArgv(plan.argv).toString(), tail.map((a) => `${a}\0`).join(''));
      });

      test('the plan is deterministic', () => {
        assert.deepEqual(toBwrapCommand(planSandbox(bundled(tool), args, FACTS)).argv, argv);
      });
    });
  }

  test('python: the Debian symlinks are recreated, not bound', () => {
    const argv = toBwrapCommand(planSandbox(bundled('python'), { code: '1' }, FACTS)).argv;
    assert.deepEqual(occurrences(argv, '--symlink', 2), [
      ['usr/lib', '/lib'],
      ['usr/lib64', '/lib64'],
      ['usr/bin', '/bin'],
    ]);
    assert.deepEqual(occurrences(argv, '--ro-bind', 2), [
      ['/dev/null', '/dev/pts/ptmx'],
      ['/usr', '/usr'],
      ['/etc/alternatives', '/etc/alternatives'],
      [FACTS.execHelper, EXEC_HELPER_DEST],
    ]);
    assert.deepEqual(occurrences(argv, '--chdir', 1), [['/tmp']]);
  });

  test('search: /usr/share/doc is bound read-only on /data', () => {
    const argv = toBwrapCommand(planSandbox(bundled('search'), { pattern: 'x' }, FACTS)).argv;
    assert.ok(occurrences(argv, '--ro-bind', 2).some(([s, d]) => s === '/usr/share/doc' && d === '/data'));
    assert.deepEqual(occurrences(argv, '--chdir', 1), [['/data']]);
  });

  test('without --disable-userns support the flag is left out (and nothing else changes)', () => {
    const withFlag = toBwrapCommand(planSandbox(bundled('shell'), { script: 'x' }, FACTS)).argv;
    const without = toBwrapCommand(planSandbox(bundled('shell'), { script: 'x' }, { ...FACTS, bwrapDisableUserns: false })).argv;
    assert.deepEqual(without, withFlag.filter((a) => a !== '--disable-userns'));
  });
});

describe('planSandbox', () => {
  const profile = (fs: string, head = '') =>
    profileFrom(
      'plantest',
      `description = "d"\ncommand = ["/bin/cat", "{f}"]\n${head}\n[input]\ntype = "object"\nrequired = ["f"]\nproperties.f = { type = "string" }\n\n[filesystem]\n${fs}\n`,
    );

  test('a missing read-only path is skipped and listed in plan.missing', () => {
    const p = profile('read_only = ["/usr", "/opt/nowhere", "/lib64"]');
    const facts: HostFacts = { ...FACTS, paths: { '/usr': dir('/usr') } };
    const plan = planSandbox(p, { f: 'x' }, facts);
    assert.deepEqual(plan.missing, ['/opt/nowhere', '/lib64']);
    assert.deepEqual(plan.mounts.slice(4, -1), [{ op: 'ro-bind', source: '/usr', dest: '/usr' }]);
  });

  test('a missing writable path is an error', () => {
    const p = profile('writable = ["/srv/reports:/work/out"]');
    assert.throws(
      () => planSandbox(p, { f: 'x' }, FACTS),
      (e: unknown) => e instanceof PlanError && e.message === 'tool plantest: writable host path /srv/reports does not exist',
    );
  });

  test('a host path that resolves to "/" is refused', () => {
    const p = profile('read_only = ["/srv/rootlink:/host"]');
    assert.throws(
      () => planSandbox(p, { f: 'x' }, { ...FACTS, paths: { '/srv/rootlink': { type: 'symlink', target: '/', real: '/' } } }),
      (e: unknown) => e instanceof PlanError && e.message === 'tool plantest: host path /srv/rootlink resolves to the host\'s "/", which is never bound whole',
    );
  });

  test('a host path that resolves into the host\'s /proc is refused; a symlink recreated in place resolves to the sandbox\'s own', () => {
    const p = profile('read_only = ["/srv/plink:/p"]');
    assert.throws(
      () => planSandbox(p, { f: 'x' }, { ...FACTS, paths: { '/srv/plink': { type: 'symlink', target: '/proc/1', real: '/proc/1' } } }),
      (e: unknown) => e instanceof PlanError && e.message === "tool plantest: host path /srv/plink resolves to /proc/1 in the host's /proc, which is never bound",
    );
    const inPlace = planSandbox(profile('read_only = ["/etc/mtab"]'), { f: 'x' }, { ...FACTS, paths: { '/etc/mtab': { type: 'symlink', target: '../proc/self/mounts', real: '/proc/4242/mounts' } } });
    assert.deepEqual(inPlace.mounts.slice(4, -1), [{ op: 'symlink', target: '../proc/self/mounts', dest: '/etc/mtab' }]);
  });

  test('a bind that reaches inside a writable path through a symlink is refused: the tool could replace it', () => {
    const p = profile('read_only = ["/srv/tlink:/t"]\nwritable = ["/srv/out:/out"]');
    const paths = { '/srv/out': dir('/srv/out'), '/srv/tlink': { type: 'symlink', target: 'out/templates', real: '/srv/out/templates' } as PathFact };
    assert.throws(
      () => planSandbox(p, { f: 'x' }, { ...FACTS, paths }),
      (e: unknown) => e instanceof PlanError && e.message === 'tool plantest: host path /srv/tlink resolves to /srv/out/templates, inside the writable path /srv/out: the tool could replace it with a symlink',
    );
  });

  test('uid 0 is refused', () => {
    const p = profile('read_only = ["/usr"]');
    assert.throws(
      () => planSandbox(p, { f: 'x' }, { ...FACTS, user: { name: 'root', uid: 0, gid: 0 } }),
      (e: unknown) => e instanceof PlanError && e.message === 'tool plantest: sandbox user root is root; tools never run as root',
    );
  });

  test('gid 0 is refused too', () => {
    const p = profile('read_only = ["/usr"]');
    assert.throws(() => planSandbox(p, { f: 'x' }, { ...FACTS, user: { name: 'tc-x', uid: 990, gid: 0 } }), PlanError);
  });

  test('argument errors come out of planning (nothing is planned for a hostile value)', () => {
    const p = profile('read_only = ["/usr"]');
    assert.throws(() => planSandbox(p, { f: '--output=/etc/passwd' }, FACTS), /argument "f": starts with "-"/);
  });

  test('parents are mounted before children (tmpfs /work before the bind on /work/out)', () => {
    // Listed child-first on purpose: writable binds come before tmpfs in the profile's order.
    const p = profile('read_only = ["/usr/share/doc:/work/out/doc"]\nwritable = ["/srv/reports:/work/out"]\ntmpfs = ["/work:8M"]');
    const plan = planSandbox(p, { f: 'x' }, { ...FACTS, paths: { ...FACTS.paths, '/srv/reports': dir('/srv/reports') } });
    assert.deepEqual(plan.mounts, [
      { op: 'proc', dest: '/proc' },
      { op: 'dev', dest: '/dev' },
      { op: 'tmpfs', dest: '/dev/shm', size: DEV_SHM_SIZE },
      { op: 'ro-bind', source: '/dev/null', dest: '/dev/pts/ptmx' },
      { op: 'tmpfs', dest: '/work', size: 8 * 1024 * 1024 },
      { op: 'bind', source: '/srv/reports', dest: '/work/out' },
      { op: 'ro-bind', source: '/usr/share/doc', dest: '/work/out/doc' },
      { op: 'ro-bind', source: FACTS.execHelper, dest: EXEC_HELPER_DEST },
    ]);
  });

  test('a symlink bound under another name is bound (bwrap follows it), not recreated', () => {
    const p = profile('read_only = ["/bin:/tools"]');
    const plan = planSandbox(p, { f: 'x' }, FACTS);
    assert.deepEqual(plan.mounts.slice(4, -1), [{ op: 'ro-bind', source: '/bin', dest: '/tools' }]);
  });

  test('env defaults PATH, HOME (the first tmpfs, else cwd) and LANG, sorted by name', () => {
    const plan = planSandbox(profile('tmpfs = ["/work"]'), { f: 'x' }, FACTS);
    assert.equal(plan.cwd, '/work'); // no cwd: the first tmpfs
    assert.deepEqual(Object.entries(plan.env), [
      ['HOME', '/work'],
      ['LANG', 'C.UTF-8'],
      ['PATH', '/usr/local/bin:/usr/bin:/bin'],
    ]);
  });

  test('profile env overrides the defaults and adds its own', () => {
    const plan = planSandbox(profile('tmpfs = ["/tmp"]', 'cwd = "/tmp"\nenv = { LANG = "en_US.UTF-8", PATH = "/opt/bin", ZZ = "1", AA = "2" }'), { f: 'x' }, FACTS);
    assert.deepEqual(Object.entries(plan.env), [
      ['AA', '2'],
      ['HOME', '/tmp'],
      ['LANG', 'en_US.UTF-8'],
      ['PATH', '/opt/bin'],
      ['ZZ', '1'],
    ]);
  });

  test('HOME is the first tmpfs, not a cwd of data that may hold dotfiles; cwd without a tmpfs', () => {
    const data = planSandbox(profile('read_only = ["/usr:/repo"]\ntmpfs = ["/tmp"]', 'cwd = "/repo"'), { f: 'x' }, FACTS);
    assert.deepEqual([data.cwd, data.env.HOME], ['/repo', '/tmp']);
    const noTmpfs = planSandbox(profile('read_only = ["/usr:/repo"]', 'cwd = "/repo"'), { f: 'x' }, FACTS);
    assert.deepEqual([noTmpfs.cwd, noTmpfs.env.HOME], ['/repo', '/repo']);
  });

  test('no cwd and no tmpfs: cwd is "/"', () => {
    const plan = planSandbox(profile('read_only = ["/usr"]'), { f: 'x' }, FACTS);
    assert.equal(plan.cwd, '/');
    assert.equal(plan.env.HOME, '/');
  });

  test('limits and identity travel into the plan', () => {
    const plan = planSandbox(profile('tmpfs = ["/tmp"]', ''), { f: 'x' }, FACTS);
    assert.equal(plan.tool, 'plantest');
    assert.deepEqual(plan.user, { name: 'tc-test', uid: 990, gid: 990 });
    assert.equal(plan.timeoutMs, 30_000);
    assert.equal(plan.outputBytes, 1024 * 1024);
    assert.equal(plan.hostname, 'toolcell');
    assert.equal(plan.disableUserns, true);
    assert.deepEqual(plan.argv, ['/bin/cat', 'x']);
  });
});
