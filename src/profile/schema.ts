// The profile schema is the admin's contract and its documentation: every key, its type, its
// default and why it exists. Keys stay snake_case and verbatim; sizes and durations are normalized
// to bytes and milliseconds here so that nothing downstream parses text again.
import { z } from 'zod';
import { durationTooLong, parseDuration, parseSize } from '../plan/parse-units.js';

const size = (what: string, zeroAllowed = false) =>
  z.union([z.string(), z.number().int()]).transform((v, ctx) => {
    const n = v === 0 || v === '0' ? (zeroAllowed ? 0 : undefined) : typeof v === 'number' ? (v > 0 ? v : undefined) : parseSize(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `${what}: expected a size like "64M" (units K, M, G), got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });

const duration = z.string().transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "30s" (units ms, s, m), got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  const tooLong = durationTooLong(n, v);
  if (tooLong) {
    ctx.addIssue({ code: 'custom', message: tooLong });
    return z.NEVER;
  }
  return n;
});

const noNul = (s: string) => !s.includes('\0');
const absolutePath = z
  .string()
  .refine((p) => p.startsWith('/') && noNul(p), 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..') && !p.split('/').includes('.'), 'must not contain "." or ".." components')
  .refine((p) => p === '/' || !p.endsWith('/'), 'must not end with "/"')
  .refine((p) => !p.includes('//'), 'must not contain "//"');

export const DEFAULT_LIMITS = {
  memory: 256 * 1024 ** 2,
  memory_swap: 0,
  pids: 64,
  cpu: 1,
  timeout: 30_000,
  output: 1024 ** 2,
} as const;

export const DEFAULT_TMPFS_SIZE = 64 * 1024 ** 2;

export const ProfileSchema = z
  .object({
    description: z.string().min(1).max(4096).describe('Shown to MCP hosts as the tool description.'),
    command: z
      .array(z.string().refine(noNul, 'must not contain NUL'))
      .min(1)
      .describe('argv of the tool; no shell. Each {name} is replaced by one argument and stays inside its element.'),
    cwd: absolutePath.optional().describe('Working directory inside the sandbox (default: the first tmpfs, else /).'),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and _'), z.string().refine(noNul, 'must not contain NUL'))
      .default({})
      .describe('The only environment the tool gets, besides PATH, HOME and LANG defaults.'),
    pty: z.boolean().default(false).describe('Run the tool on a pseudo-terminal (inside the sandbox); output comes back as plain text.'),
    allow_leading_dash: z
      .array(z.string())
      .default([])
      .describe('Arguments whose values may start with "-" (by default refused: option injection).'),
    log_arguments: z.boolean().default(false).describe('Write the call\'s argument values into the audit record (by default only their sha256).'),
    input: z
      .record(z.string(), z.unknown())
      .default({ type: 'object', properties: {} })
      .describe('JSON Schema of the arguments; published as the MCP inputSchema and enforced before anything runs.'),
    identity: z
      .object({ user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a valid Linux user name').optional() })
      .strict()
      .default({}),
    filesystem: z
      .object({
        read_only: z.array(z.string()).default([]).describe('HOST[:SANDBOX] paths bound read-only.'),
        writable: z.array(z.string()).default([]).describe('HOST[:SANDBOX] paths bound read-write.'),
        tmpfs: z.array(z.string()).default([]).describe('PATH[:SIZE] fresh tmpfs mounts, empty every call.'),
      })
      .strict()
      .default({ read_only: [], writable: [], tmpfs: [] }),
    network: z
      .object({
        allow: z
          .array(z.string())
          .default([])
          .describe('Destinations the tool may reach: "IP:PORT", "CIDR:PORT", "HOST:PORT", "[IPv6]:PORT", each optionally /tcp (default) or /udp. Empty: no network at all.'),
        allow_any: z.boolean().default(false).describe('Permit entries as wide as 0.0.0.0/0 (any prefix shorter than /8, or /16 for IPv6).'),
      })
      .strict()
      .default({ allow: [], allow_any: false }),
    callers: z
      .object({
        users: z.array(z.string().min(1)).default([]).describe('User names that may see and call this tool.'),
        groups: z.array(z.string().min(1)).default([]).describe('Groups whose members may see and call this tool.'),
      })
      .strict()
      .optional()
      .describe('Who may use the tool; without it, everyone who may connect (root and the client group).'),
    seccomp: z
      .object({
        action: z.enum(['errno', 'kill', 'log']).default('errno').describe('errno: EPERM; kill: kill the process; log: allow and log (to develop a profile).'),
        allow: z.array(z.string().min(1)).default([]).describe('Syscalls or @groups taken out of the baseline.'),
        deny: z.array(z.string().min(1)).default([]).describe('More syscalls or @groups to deny.'),
      })
      .strict()
      .default({ action: 'errno', allow: [], deny: [] }),
    secrets: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'secret names are letters, digits and _ (they become environment names)'),
        z.union([
          absolutePath,
          z
            .object({
              file: absolutePath.describe('Root-only file holding the value.'),
              as: z.enum(['env', 'file']).default('env').describe('env: an environment variable; file: /run/secrets/NAME, mode 0400.'),
            })
            .strict(),
        ]),
      )
      .default({})
      .transform((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? { file: v, as: 'env' as const } : v])))
      .describe('NAME = root-only file; read when a call starts and given to this tool only.'),
    limits: z
      .object({
        memory: size('memory').default(DEFAULT_LIMITS.memory).describe('RAM for the whole sandbox, tmpfs files included (the kernel charges them to it).'),
        memory_swap: size('memory_swap', true).default(DEFAULT_LIMITS.memory_swap).describe('Swap on top of memory; 0 (default): none.'),
        pids: z.number().int().min(1).max(65536).default(DEFAULT_LIMITS.pids),
        cpu: z.number().positive().max(1024).default(DEFAULT_LIMITS.cpu),
        timeout: duration.default(DEFAULT_LIMITS.timeout),
        output: size('output').default(DEFAULT_LIMITS.output),
      })
      .strict()
      .default(DEFAULT_LIMITS),
  })
  .strict();

export type ProfileBody = z.output<typeof ProfileSchema>;

export { absolutePath };
