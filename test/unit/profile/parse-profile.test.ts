// The profile schema table: every row is a profile an admin could write and what toolcell must say
// about it. Invalid rows name the exact key, a fragment of the message and the line of the
// offending key (undefined where the key is absent from the file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import type { Profile } from '../../../src/profile/profile.js';
import { describeProfileError } from '../../../src/profile/profile.js';
import { PROFILES } from '../../helpers/paths.js';

const FILE = 't.toml';
const MiB = 1024 * 1024;
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** A valid head every row can extend: one placeholder, declared and required. */
const HEAD = `description = "test tool"
command = ["/bin/echo", "{x}"]
`;
const INPUT = `
[input]
type = "object"
required = ["x"]
properties.x = { type = "string" }
`;
/** The smallest valid profile: no placeholder, no input. */
const MIN = `description = "d"
command = ["/bin/true"]
`;

interface InvalidRow {
  readonly name: string;
  readonly source: string;
  readonly tool?: string;
  readonly key: string;
  readonly message: string;
  readonly line: number | undefined;
  /** How many errors in all (default 1): a single mistake should give a single error. */
  readonly count?: number;
}

const INVALID: readonly InvalidRow[] = [
  {
    name: 'TOML syntax error reports the line the parser stopped on',
    source: 'description = "d"\ncommand = ["/bin/true"\nfoo = 1\n',
    key: '',
    message: 'Invalid TOML document',
    line: 3,
  },
  {
    name: 'unknown top-level key (typo of command)',
    source: `${MIN}comand = ["/bin/false"]\n`,
    key: 'comand',
    message: 'unknown key',
    line: 3,
  },
  {
    name: 'unknown key inside [limits] (memmory)',
    source: `${MIN}\n[limits]\nmemory = "64M"\nmemmory = "1G"\n`,
    key: 'limits.memmory',
    message: 'unknown key (a typo must not silently change a policy)',
    line: 6,
  },
  {
    name: 'unknown key inside [filesystem] (read_onyl)',
    source: `${MIN}\n[filesystem]\nread_onyl = ["/usr"]\n`,
    key: 'filesystem.read_onyl',
    message: 'unknown key',
    line: 5,
  },
  {
    name: 'unknown key inside [identity]',
    source: `${MIN}\n[identity]\nuser = "tc-t"\ngroup = "x"\n`,
    key: 'identity.group',
    message: 'unknown key',
    line: 6,
  },
  {
    name: 'bad size unit "12X"',
    source: `${MIN}\n[limits]\nmemory = "12X"\n`,
    key: 'limits.memory',
    message: 'memory: expected a size like "64M" (units K, M, G), got "12X"',
    line: 5,
  },
  {
    name: 'zero output size',
    source: `${MIN}\n[limits]\noutput = 0\n`,
    key: 'limits.output',
    message: 'output: expected a size like "64M"',
    line: 5,
  },
  {
    name: 'duration without a unit "30"',
    source: `${MIN}\n[limits]\ntimeout = "30"\n`,
    key: 'limits.timeout',
    message: 'expected a duration like "30s" (units ms, s, m), got "30"',
    line: 5,
  },
  {
    // setTimeout fires after 1 ms for anything longer: every call would be killed at once.
    name: 'timeout longer than a timer can wait ("36000m", 25 days)',
    source: `${MIN}\n[limits]\ntimeout = "36000m"\n`,
    key: 'limits.timeout',
    message: 'must be at most 2147483647 ms (24.8 days, the longest a timer can wait), got "36000m"',
    line: 5,
  },
  {
    name: 'timeout one millisecond past the longest timer',
    source: `${MIN}\n[limits]\ntimeout = "2147483648ms"\n`,
    key: 'limits.timeout',
    message: 'must be at most 2147483647 ms',
    line: 5,
  },
  {
    name: 'pids out of range',
    source: `${MIN}\n[limits]\npids = 0\n`,
    key: 'limits.pids',
    message: '>=1',
    line: 5,
  },
  {
    name: 'command missing',
    source: 'description = "d"\n',
    key: 'command',
    message: 'expected array',
    line: undefined,
  },
  {
    name: 'command empty',
    source: 'description = "d"\ncommand = []\n',
    key: 'command',
    message: '>=1',
    line: 2,
  },
  {
    name: 'description missing',
    source: 'command = ["/bin/true"]\n',
    key: 'description',
    message: 'expected string',
    line: undefined,
  },
  {
    name: 'NUL inside a command element',
    source: 'description = "d"\ncommand = ["/bin/echo", "a\\u0000b"]\n',
    key: 'command[1]',
    message: 'must not contain NUL',
    line: 2,
  },
  {
    name: 'relative command[0] (no PATH lookup)',
    source: 'description = "d"\ncommand = ["echo", "hi"]\n',
    key: 'command[0]',
    message: 'the program must be an absolute path',
    line: 2,
  },
  {
    name: 'placeholder inside command[0]',
    source: `description = "d"\ncommand = ["/usr/bin/{x}"]\n${INPUT}`,
    key: 'command[0]',
    message: 'the program must not come from an argument',
    line: 2,
  },
  {
    name: 'placeholder that is not in input.properties',
    source: `description = "d"\ncommand = ["/bin/echo", "{y}"]\n${INPUT}`,
    key: 'command',
    message: 'placeholder {y} is not a property of [input]',
    line: 2,
  },
  {
    name: 'placeholder that is not in input.required',
    source: `${HEAD}\n[input]\ntype = "object"\nproperties.x = { type = "string" }\n`,
    key: 'command',
    message: 'placeholder {x} must be listed in input.required',
    line: 2,
  },
  {
    name: 'unclosed "{"',
    source: `description = "d"\ncommand = ["/bin/echo", "--x={x"]\n${INPUT}`,
    key: 'command[1]',
    message: 'unclosed "{" in "--x={x"',
    line: 2,
  },
  {
    name: 'unmatched "}"',
    source: `description = "d"\ncommand = ["/bin/echo", "x}"]\n`,
    key: 'command[1]',
    message: 'unmatched "}" in "x}"',
    line: 2,
  },
  {
    name: 'placeholder name with a space',
    source: `description = "d"\ncommand = ["/bin/echo", "{a b}"]\n`,
    key: 'command[1]',
    message: 'bad placeholder {a b}',
    line: 2,
  },
  {
    name: 'input.type is not "object"',
    source: `${MIN}\n[input]\ntype = "array"\n`,
    key: 'input.type',
    message: 'must be "object"',
    line: 5,
    count: 1,
  },
  {
    name: 'input is not a valid JSON Schema (type = "strnig")',
    source: `${HEAD}\n[input]\ntype = "object"\nrequired = ["x"]\nproperties.x = { type = "strnig" }\n`,
    key: 'input',
    message: 'not a valid JSON Schema',
    line: 4,
  },
  {
    name: 'allow_leading_dash names a non-placeholder',
    source: `${HEAD}allow_leading_dash = ["x", "code"]\n${INPUT}`,
    key: 'allow_leading_dash',
    message: '"code" is not a placeholder of command',
    line: 3,
  },
  {
    name: 'filesystem: relative path',
    source: `${MIN}\n[filesystem]\nread_only = ["usr"]\n`,
    key: 'filesystem.read_only[0]',
    message: '"usr" must be an absolute path',
    line: 5,
  },
  {
    name: 'filesystem: ".." component',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr", "/usr/../etc"]\n`,
    key: 'filesystem.read_only[1]',
    message: 'must not contain "." or ".." components',
    line: 5,
  },
  {
    name: 'filesystem: ".." in the sandbox side',
    source: `${MIN}\n[filesystem]\nwritable = ["/srv/out:/work/../etc"]\n`,
    key: 'filesystem.writable[0]',
    message: '"/work/../etc" must not contain "." or ".." components',
    line: 5,
  },
  {
    name: 'filesystem: trailing "/"',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr/"]\n`,
    key: 'filesystem.read_only[0]',
    message: '"/usr/" must not end with "/"',
    line: 5,
  },
  {
    name: 'filesystem: "//" inside',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr//lib"]\n`,
    key: 'filesystem.read_only[0]',
    message: 'must not contain "//"',
    line: 5,
  },
  {
    name: 'filesystem: "/" as host source',
    source: `${MIN}\n[filesystem]\nread_only = ["/:/host"]\n`,
    key: 'filesystem.read_only[0]',
    message: 'the host root "/" is never bound whole',
    line: 5,
  },
  {
    name: 'filesystem: "/" bound on itself',
    source: `${MIN}\n[filesystem]\nread_only = ["/"]\n`,
    key: 'filesystem.read_only[0]',
    message: 'the host root "/" is never bound whole',
    line: 5,
  },
  {
    name: 'filesystem: the host\'s /proc as a source, even read-only',
    source: `${MIN}\n[filesystem]\nread_only = ["/proc:/hostproc"]\n`,
    key: 'filesystem.read_only[0]',
    message: "/proc is in the host's /proc, which is never bound",
    line: 5,
  },
  {
    name: 'filesystem: below the host\'s /sys as a source',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr", "/sys/kernel:/k"]\n`,
    key: 'filesystem.read_only[1]',
    message: "/sys/kernel is in the host's /sys, which is never bound",
    line: 5,
  },
  {
    name: 'filesystem: a device of the host\'s /dev as a source',
    source: `${MIN}\n[filesystem]\nread_only = ["/dev/kmsg"]\n`,
    key: 'filesystem.read_only[0]',
    message: "/dev/kmsg is in the host's /dev, which is never bound",
    line: 5,
  },
  {
    name: 'filesystem: a read-only path inside a writable one (the tool could swap it for a symlink)',
    source: `${MIN}\n[filesystem]\nwritable = ["/srv/out:/out"]\nread_only = ["/usr", "/srv/out/templates:/templates"]\n`,
    key: 'filesystem.read_only[1]',
    message: '/srv/out/templates lies in the writable path /srv/out: the tool could replace it with a symlink to anything its user may read',
    line: 6,
  },
  {
    name: 'filesystem: mounting over /proc',
    source: `${MIN}\n[filesystem]\nwritable = ["/srv/x:/proc"]\n`,
    key: 'filesystem.writable[0]',
    message: '/proc cannot be mounted over: the sandbox provides /proc itself',
    line: 5,
  },
  {
    name: 'filesystem: mounting under /proc',
    source: `${MIN}\n[filesystem]\nread_only = ["/srv/x:/proc/sys"]\n`,
    key: 'filesystem.read_only[0]',
    message: '/proc/sys cannot be mounted over: the sandbox provides /proc itself',
    line: 5,
  },
  {
    name: 'filesystem: tmpfs over /dev',
    source: `${MIN}\n[filesystem]\ntmpfs = ["/dev"]\n`,
    key: 'filesystem.tmpfs[0]',
    message: '/dev cannot be mounted over: the sandbox provides /dev itself',
    line: 5,
  },
  {
    name: 'filesystem: tmpfs over /dev/shm (the plan sizes it itself)',
    source: `${MIN}\n[filesystem]\ntmpfs = ["/dev/shm:1G"]\n`,
    key: 'filesystem.tmpfs[0]',
    message: '/dev/shm cannot be mounted over: the sandbox provides /dev itself',
    line: 5,
  },
  {
    name: 'filesystem: mounting over "/"',
    source: `${MIN}\n[filesystem]\nread_only = ["/srv/root:/"]\n`,
    key: 'filesystem.read_only[0]',
    message: '/ cannot be mounted over: the sandbox provides / itself',
    line: 5,
  },
  {
    name: 'filesystem: tmpfs on "/"',
    source: `${MIN}\n[filesystem]\ntmpfs = ["/:64M"]\n`,
    key: 'filesystem.tmpfs[0]',
    message: '/ cannot be mounted over',
    line: 5,
  },
  {
    name: 'filesystem: duplicate destination (bind and tmpfs)',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr"]\ntmpfs = ["/usr:8M"]\n`,
    key: 'filesystem',
    message: '/usr is mounted twice',
    line: 4,
  },
  {
    name: 'filesystem: duplicate destination (HOST:SANDBOX onto a listed path)',
    source: `${MIN}\n[filesystem]\nread_only = ["/usr", "/opt/usr:/usr"]\n`,
    key: 'filesystem',
    message: '/usr is mounted twice',
    line: 4,
  },
  {
    name: 'filesystem: "A:B:C"',
    source: `${MIN}\n[filesystem]\nread_only = ["/a:/b:/c"]\n`,
    key: 'filesystem.read_only[0]',
    message: '"/a:/b:/c": expected HOST or HOST:SANDBOX',
    line: 5,
  },
  {
    name: 'filesystem: tmpfs size "12X"',
    source: `${MIN}\n[filesystem]\ntmpfs = ["/tmp:12X"]\n`,
    key: 'filesystem.tmpfs[0]',
    message: 'size "12X": expected a size like "64M"',
    line: 5,
  },
  {
    name: 'filesystem: tmpfs "PATH:SIZE:MORE"',
    source: `${MIN}\n[filesystem]\ntmpfs = ["/tmp:8M:x"]\n`,
    key: 'filesystem.tmpfs[0]',
    message: 'expected PATH or PATH:SIZE',
    line: 5,
  },
  {
    name: 'network.allow: no port',
    source: `${MIN}\n[network]\nallow = ["198.51.100.7:443", "198.51.100.7"]\n`,
    key: 'network.allow[1]',
    message: '"198.51.100.7": expected DESTINATION:PORT, e.g. "198.51.100.7:443", "10.0.0.0/8:5432/tcp" or "pypi.org:443"',
    line: 5,
  },
  {
    name: 'network.allow: port out of range',
    source: `${MIN}\n[network]\nallow = ["198.51.100.7:70000"]\n`,
    key: 'network.allow[0]',
    message: '"198.51.100.7:70000": port "70000": expected a number from 1 to 65535',
    line: 5,
  },
  {
    name: 'network.allow: unknown protocol',
    source: `${MIN}\n[network]\nallow = ["198.51.100.7:443/sctp"]\n`,
    key: 'network.allow[0]',
    message: '"198.51.100.7:443/sctp": the protocol must be /tcp or /udp',
    line: 5,
  },
  {
    name: 'network.allow: host bits in a block',
    source: `${MIN}\n[network]\nallow = ["10.1.2.3/24:5432"]\n`,
    key: 'network.allow[0]',
    message: '"10.1.2.3/24:5432": 10.1.2.3/24 has host bits set; the block is 10.1.2.0/24',
    line: 5,
  },
  {
    name: 'network.allow: IPv6 without brackets',
    source: `${MIN}\n[network]\nallow = ["2001:db8::1:443"]\n`,
    key: 'network.allow[0]',
    message: '"2001:db8::1:443": an IPv6 destination goes in brackets: "[2001:db8::1]:443"',
    line: 5,
  },
  {
    name: 'network.allow: not a host name',
    source: `${MIN}\n[network]\nallow = ["exa_mple.org:443"]\n`,
    key: 'network.allow[0]',
    message: '"exa_mple.org:443": "exa_mple.org" is not an IP address, an address block or a host name',
    line: 5,
  },
  {
    name: 'network.allow: 0.0.0.0/0 without allow_any',
    source: `${MIN}\n[network]\nallow = ["0.0.0.0/0:443"]\n`,
    key: 'network.allow[0]',
    message: '"0.0.0.0/0:443" opens a block wider than /8: set allow_any = true if that is really meant',
    line: 5,
  },
  {
    name: 'network.allow: [::]/0 without allow_any',
    source: `${MIN}\n[network]\nallow = ["[::/0]:443"]\n`,
    key: 'network.allow[0]',
    message: '"[::/0]:443" opens a block wider than /16: set allow_any = true if that is really meant',
    line: 5,
  },
  {
    name: 'network.allow: the NAT64 prefix 64:ff9b::/96 (all of IPv4 where a NAT64 gateway serves it) without allow_any',
    source: `${MIN}\n[network]\nallow = ["[64:ff9b::/96]:443"]\n`,
    key: 'network.allow[0]',
    message: '"[64:ff9b::/96]:443" reaches a block of IPv4 wider than /8 through the NAT64 prefix 64:ff9b::/96: set allow_any = true if that is really meant',
    line: 5,
  },
  {
    name: 'network.allow: a block holding the NAT64 prefix without allow_any',
    source: `${MIN}\n[network]\nallow = ["[64:ff9b::/64]:443"]\n`,
    key: 'network.allow[0]',
    message: 'through the NAT64 prefix 64:ff9b::/96',
    line: 5,
  },
  {
    name: 'network: unknown key',
    source: `${MIN}\n[network]\nallowed = []\n`,
    key: 'network.allowed',
    message: 'unknown key',
    line: 5,
  },
  {
    name: 'pty is not a boolean',
    source: `${MIN}pty = "yes"\n`,
    key: 'pty',
    message: 'expected boolean',
    line: 3,
  },
  {
    name: 'env name invalid (inline table)',
    source: `${MIN}env = { "BAD-NAME" = "x" }\n`,
    key: 'env.BAD-NAME',
    // The schema's own message; zod's generic "Invalid key in record" tells the admin nothing.
    message: 'environment names are letters, digits and _',
    line: 3,
  },
  {
    name: 'env name invalid ([env] table, quoted key)',
    source: `${MIN}\n[env]\nLANG = "C.UTF-8"\n"MY VAR" = "x"\n`,
    key: 'env.MY VAR',
    message: 'environment names are letters, digits and _',
    line: 6,
  },
  {
    name: 'the default user tc-<tool> would be longer than 32 characters',
    tool: 'a-tool-name-that-is-thirty-three-x',
    source: MIN,
    key: 'identity.user',
    message: 'is longer than 32 characters',
    line: undefined,
  },
  {
    name: 'identity.user is not a Linux user name',
    source: `${MIN}\n[identity]\nuser = "Root User"\n`,
    key: 'identity.user',
    message: 'must be a valid Linux user name',
    line: 5,
  },
  {
    name: 'cwd relative',
    source: `${MIN}cwd = "work"\n`,
    key: 'cwd',
    message: 'must be an absolute path',
    line: 3,
  },
  {
    name: 'tool name invalid (from the file name)',
    tool: 'Bad Name',
    source: MIN,
    key: '',
    message: 'tool name "Bad Name" (from the file name) must be lower-case letters',
    line: undefined,
  },
  {
    name: 'tool name longer than 64',
    tool: `a${'b'.repeat(64)}`,
    source: MIN,
    key: '',
    message: 'at most 64',
    line: undefined,
  },
];

describe('parseProfile: invalid profiles', () => {
  for (const row of INVALID) {
    test(row.name, () => {
      const r = parseProfile(row.tool ?? 't', FILE, row.source);
      assert.equal(r.ok, false, 'the profile must be refused');
      if (r.ok) return;
      const first = r.errors[0];
      assert.ok(first, 'at least one error');
      assert.equal(first.file, FILE);
      assert.equal(first.key, row.key);
      assert.ok(first.message.includes(row.message), `message ${JSON.stringify(first.message)} should contain ${JSON.stringify(row.message)}`);
      assert.equal(first.line, row.line, `line of ${row.key || 'the error'}`);
      assert.equal(r.errors.length, row.count ?? 1, `errors: ${JSON.stringify(r.errors)}`);
    });
  }

  test('every mistake in one file is reported, not just the first', () => {
    const r = parseProfile('t', FILE, `description = "d"\ncommand = ["echo"]\npty = 1\n\n[limits]\nmemmory = "1M"\n`);
    assert.equal(r.ok, false);
    if (r.ok) return;
    // Schema errors stop before the command checks: command[0] is reported once these are fixed.
    assert.deepEqual(r.errors.map((e) => [e.key, e.line]).sort(), [
      ['limits.memmory', 6],
      ['pty', 3],
    ]);
  });

  test('describeProfileError prints file:line: key: message', () => {
    const r = parseProfile('t', '/etc/toolcell/tools/t.toml', `${MIN}\n[limits]\ntimeout = "30"\n`);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.errors.map(describeProfileError), [
      '/etc/toolcell/tools/t.toml:5: limits.timeout: expected a duration like "30s" (units ms, s, m), got "30"',
    ]);
  });
});

interface ValidRow {
  readonly name: string;
  readonly source: string;
  readonly check: (p: Profile) => void;
}

const VALID: readonly ValidRow[] = [
  {
    name: 'minimal profile (description + command) gets every default',
    source: MIN,
    check: (p) => {
      assert.deepEqual(p.limits, { memory: 256 * MiB, memory_swap: 0, pids: 64, cpu: 1, timeout: 30_000, output: MiB });
      assert.equal(p.limits.timeout, 30000);
      assert.equal(p.limits.output, 1024 * 1024);
      assert.deepEqual(p.input, { type: 'object', properties: {}, additionalProperties: false });
      assert.deepEqual(p.mounts, []);
      assert.deepEqual(p.env, {});
      assert.equal(p.pty, false);
      assert.equal(p.cwd, undefined);
      assert.deepEqual(p.allow_leading_dash, []);
      assert.deepEqual(p.network, { allow: [], allow_any: false });
      assert.deepEqual(p.egress, []);
      // The default user is the tool's own: tc-<tool>.
      assert.deepEqual(p.identity, { user: 'tc-t' });
      assert.deepEqual(p.template, [[{ text: '/bin/true' }]]);
    },
  },
  {
    name: 'input.additionalProperties = false is added when absent',
    source: `${HEAD}${INPUT}`,
    check: (p) => {
      // smol-toml builds tables without a prototype; compare the plain JSON shape.
      assert.deepEqual(plain(p.input), { type: 'object', required: ['x'], properties: { x: { type: 'string' } }, additionalProperties: false });
      assert.deepEqual(p.template, [[{ text: '/bin/echo' }], [{ arg: 'x' }]]);
    },
  },
  {
    name: 'input.additionalProperties = true is kept (the admin said so)',
    source: `${HEAD}${INPUT}additionalProperties = true\n`,
    check: (p) => assert.equal(p.input.additionalProperties, true),
  },
  {
    name: 'mounts: HOST, HOST:SANDBOX, writable, tmpfs with and without size (default 64 MiB)',
    source: `${MIN}
[filesystem]
read_only = ["/usr", "/usr/share/doc:/data"]
writable = ["/srv/reports:/work/out"]
tmpfs = ["/work", "/tmp:8M", "/scratch:1G", "/small:512K", "/bytes:4096"]
`,
    check: (p) =>
      assert.deepEqual(p.mounts, [
        { kind: 'ro-bind', source: '/usr', dest: '/usr' },
        { kind: 'ro-bind', source: '/usr/share/doc', dest: '/data' },
        { kind: 'bind', source: '/srv/reports', dest: '/work/out' },
        { kind: 'tmpfs', dest: '/work', size: 64 * MiB },
        { kind: 'tmpfs', dest: '/tmp', size: 8 * MiB },
        { kind: 'tmpfs', dest: '/scratch', size: 1024 * MiB },
        { kind: 'tmpfs', dest: '/small', size: 512 * 1024 },
        { kind: 'tmpfs', dest: '/bytes', size: 4096 },
      ]),
  },
  {
    name: 'a read-only path beside a writable one (a common prefix, not a parent) is fine',
    source: `${MIN}\n[filesystem]\nwritable = ["/srv/out"]\nread_only = ["/srv/outside", "/srv/ou"]\n`,
    check: (p) => assert.deepEqual(p.mounts.map((m) => m.kind), ['ro-bind', 'ro-bind', 'bind']),
  },
  {
    name: 'a destination next to the reserved ones (/procfs, /devices) is fine',
    source: `${MIN}\n[filesystem]\nread_only = ["/srv/a:/procfs"]\ntmpfs = ["/devices:1M"]\n`,
    check: (p) =>
      assert.deepEqual(p.mounts, [
        { kind: 'ro-bind', source: '/srv/a', dest: '/procfs' },
        { kind: 'tmpfs', dest: '/devices', size: MiB },
      ]),
  },
  {
    name: '"{{literal}}" braces are literal text, not a placeholder',
    source: 'description = "d"\ncommand = ["/usr/bin/printf", "{{literal}}", "{{", "}}"]\n',
    check: (p) => assert.deepEqual(p.template, [[{ text: '/usr/bin/printf' }], [{ text: '{literal}' }], [{ text: '{' }], [{ text: '}' }]]),
  },
  {
    name: 'embedded placeholder "--x={x}" and allow_leading_dash naming it',
    source: `description = "d"\ncommand = ["/bin/echo", "--x={x}"]\nallow_leading_dash = ["x"]\n${INPUT}`,
    check: (p) => {
      assert.deepEqual(p.template, [[{ text: '/bin/echo' }], [{ text: '--x=' }, { arg: 'x' }]]);
      assert.deepEqual(p.allow_leading_dash, ['x']);
    },
  },
  {
    name: 'limits: sizes as numbers and K/M/G strings, durations in ms/s/m, fractional cpu',
    source: `${MIN}\n[limits]\nmemory = 1048576\noutput = "64K"\ntimeout = "2m"\ncpu = 0.5\npids = 8\n`,
    check: (p) => assert.deepEqual(p.limits, { memory: MiB, memory_swap: 0, output: 64 * 1024, timeout: 120_000, cpu: 0.5, pids: 8 }),
  },
  {
    name: 'timeout in milliseconds',
    source: `${MIN}\n[limits]\ntimeout = "1500ms"\n`,
    check: (p) => assert.equal(p.limits.timeout, 1500),
  },
  {
    name: 'the longest timeout a timer can wait: "2147483647ms", and "35791m" below it',
    source: `${MIN}\n[limits]\ntimeout = "2147483647ms"\n`,
    check: (p) => {
      assert.equal(p.limits.timeout, 2 ** 31 - 1);
      const r = parseProfile('t', FILE, `${MIN}\n[limits]\ntimeout = "35791m"\n`);
      assert.ok(r.ok && r.profile.limits.timeout === 35791 * 60_000);
    },
  },
  {
    name: 'env, cwd, identity and empty network.allow',
    source: `${MIN}cwd = "/work"\nenv = { LANG = "C.UTF-8", _X1 = "y" }\n\n[identity]\nuser = "tc-t"\n\n[network]\nallow = []\n`,
    check: (p) => {
      assert.equal(p.cwd, '/work');
      assert.deepEqual(p.env, { LANG: 'C.UTF-8', _X1: 'y' });
      assert.deepEqual(p.identity, { user: 'tc-t' });
      assert.deepEqual(p.network, { allow: [], allow_any: false });
    },
  },
  {
    name: 'network.allow: one address or a /8 of IPv4 through NAT64 needs no allow_any',
    source: `${MIN}\n[network]\nallow = ["[64:ff9b::c633:6407]:443", "[64:ff9b::a00:0/104]:443", "[64:ff9c::/32]:443"]\n`,
    check: (p) => assert.deepEqual(p.egress.map((e) => e.target.kind === 'block' && `${e.target.address}/${e.target.prefix}`), ['64:ff9b::c633:6407/128', '64:ff9b::a00:0/104', '64:ff9c::/32']),
  },
  {
    name: 'network.allow: addresses, blocks, IPv6, host names, protocols; allow_any opens 0.0.0.0/0',
    source: `${MIN}\n[network]\nallow_any = true\nallow = ["198.51.100.7:443", "10.1.2.0/24:5432/tcp", "[2001:DB8:0:0::1]:53/udp", "[2001:db8::/32]:443", "PyPI.org.:443", "0.0.0.0/0:80"]\n`,
    check: (p) =>
      assert.deepEqual(
        p.egress.map((e) => [e.target, e.port, e.proto]),
        [
          [{ kind: 'block', family: 4, address: '198.51.100.7', prefix: 32 }, 443, 'tcp'],
          [{ kind: 'block', family: 4, address: '10.1.2.0', prefix: 24 }, 5432, 'tcp'],
          [{ kind: 'block', family: 6, address: '2001:db8::1', prefix: 128 }, 53, 'udp'],
          [{ kind: 'block', family: 6, address: '2001:db8::', prefix: 32 }, 443, 'tcp'],
          [{ kind: 'host', name: 'pypi.org' }, 443, 'tcp'],
          [{ kind: 'block', family: 4, address: '0.0.0.0', prefix: 0 }, 80, 'tcp'],
        ],
      ),
  },
  {
    name: 'tool names: digits, "-" and "_" are fine',
    source: MIN,
    check: (p) => assert.equal(p.name, 't'),
  },
];

describe('parseProfile: valid profiles', () => {
  for (const row of VALID) {
    test(row.name, () => {
      const r = parseProfile('t', FILE, row.source);
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
      assert.equal(r.profile.name, 't');
      assert.equal(r.profile.file, FILE);
      assert.equal(r.profile.digest, createHash('sha256').update(row.source).digest('hex'));
      row.check(r.profile);
    });
  }

  test('tool name "a-b_9" is accepted', () => {
    const r = parseProfile('a-b_9', 'a-b_9.toml', MIN);
    assert.ok(r.ok);
    assert.equal(r.profile.name, 'a-b_9');
  });

  // A reload parses every profile again; one that failed here stayed on its last good version.
  test('input with "$id": the same profile parses twice', () => {
    const source = `${HEAD}${INPUT}"$id" = "urn:toolcell:twice"\n`;
    for (const n of [1, 2]) {
      const r = parseProfile('t', FILE, source);
      assert.ok(r.ok, `parse ${n}: ${r.ok ? '' : JSON.stringify(r.errors)}`);
      assert.equal(r.profile.input.$id, 'urn:toolcell:twice');
    }
  });

  test('two profiles with the same input "$id" both parse', () => {
    const input = (type: string) => `\n[input]\n"$id" = "urn:toolcell:shared"\ntype = "object"\nrequired = ["x"]\nproperties.x = { type = "${type}" }\n`;
    const a = parseProfile('a', 'a.toml', `${HEAD}${input('string')}`);
    const b = parseProfile('b', 'b.toml', `${HEAD}${input('integer')}`);
    assert.ok(a.ok && b.ok, JSON.stringify([a, b].flatMap((r) => (r.ok ? [] : r.errors))));
  });
});

describe('parseProfile: bundled profiles', () => {
  const files = readdirSync(PROFILES).filter((f) => f.endsWith('.toml')).sort();

  test('the bundled set is python, search, shell', () => {
    assert.deepEqual(files, ['python.toml', 'search.toml', 'shell.toml']);
  });

  for (const f of files) {
    test(`profiles/${f} parses without errors`, () => {
      const source = readFileSync(join(PROFILES, f), 'utf8');
      const name = f.slice(0, -'.toml'.length);
      const r = parseProfile(name, f, source);
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
      assert.equal(r.profile.name, name);
      assert.equal(r.profile.input.additionalProperties, false);
      assert.equal(r.profile.network.allow.length, 0);
      assert.ok(r.profile.command[0]?.startsWith('/'));
    });
  }

  test('profiles/python.toml: template, mounts and limits', () => {
    const r = parseProfile('python', 'python.toml', readFileSync(join(PROFILES, 'python.toml'), 'utf8'));
    assert.ok(r.ok);
    assert.deepEqual(r.profile.template, [[{ text: '/usr/bin/python3' }], [{ text: '-I' }], [{ text: '-S' }], [{ text: '-c' }], [{ arg: 'code' }]]);
    assert.deepEqual(r.profile.mounts, [
      { kind: 'ro-bind', source: '/usr', dest: '/usr' },
      { kind: 'ro-bind', source: '/lib', dest: '/lib' },
      { kind: 'ro-bind', source: '/lib64', dest: '/lib64' },
      { kind: 'ro-bind', source: '/bin', dest: '/bin' },
      { kind: 'ro-bind', source: '/etc/alternatives', dest: '/etc/alternatives' },
      { kind: 'tmpfs', dest: '/tmp', size: 64 * MiB },
    ]);
    assert.deepEqual(r.profile.limits, { memory: 256 * MiB, memory_swap: 0, pids: 64, cpu: 1, timeout: 30_000, output: MiB });
  });
});
