// The daemon's own settings (/etc/toolcell/toolcell.toml). Same rules as profiles: unknown keys are
// errors, and every error names the file, line and key.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { locateKey } from '../profile/locate-key.js';
import { durationTooLong, parseDuration, parseSize } from '../plan/parse-units.js';
import { parseBlock, type AddressBlock, type Family } from '../plan/egress-allow.js';
import { DEFAULT_POOL } from '../plan/address-pool.js';

export const DEFAULT_CONFIG_FILE = '/etc/toolcell/toolcell.toml';
export const INSTALLED_TOOLS_DIR = '/etc/toolcell/tools';
export const BUNDLED_TOOLS_DIR = fileURLToPath(new URL('../../../profiles', import.meta.url));

function addressBlock(family: Family, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx): AddressBlock => {
      try {
        const b = parseBlock(v);
        if (b.family === family) return b;
        ctx.addIssue({ code: 'custom', message: `expected an IPv${family} block like "${fallback}"` });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
      return z.NEVER;
    });
}

/** A number, or text with a unit ("4M", "10s") read by `parse`; `refuse` names what is wrong with a readable value. */
function withUnit(parse: (text: string) => number | undefined, fallback: string, what: string, refuse: (n: number, v: string | number) => string | undefined = () => undefined) {
  return z
    .union([z.string(), z.number().int().nonnegative()])
    .default(fallback)
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : parse(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a ${what} like "${fallback}", got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      const refused = refuse(n, v);
      if (refused) {
        ctx.addIssue({ code: 'custom', message: refused });
        return z.NEVER;
      }
      return n;
    });
}

const duration = (fallback: string) => withUnit(parseDuration, fallback, 'duration', durationTooLong);

export const DaemonConfigSchema = z
  .object({
    socket: z.string().startsWith('/').default('/run/toolcell/mcp.sock').describe('Unix socket the daemon listens on.'),
    tools_dir: z.string().startsWith('/').optional().describe('Directory of tool profiles (*.toml).'),
    client_group: z.string().min(1, 'must name a group').default('toolcell').describe('Group whose members may connect (socket mode 0660).'),
    max_message_bytes: withUnit(parseSize, '4M', 'size').refine((n) => n > 0, 'must be more than 0').describe('Largest JSON-RPC message accepted from a client.'),
    cgroup_root: z
      .string()
      .regex(/^\/[^\0]*$/, 'expected an absolute cgroup path like "/toolcell"')
      .refine((p) => !p.split('/').includes('..'), 'may not contain ".."')
      .optional()
      .describe('cgroup (as /proc/self/cgroup names it) to create invocation cgroups in; default: "toolcell" below the daemon\'s own cgroup.'),
    network_pool: addressBlock(4, DEFAULT_POOL.v4).describe('IPv4 block the veth pairs of sandboxes with network are addressed from (/30 each); slots that overlap a network of the host are skipped.'),
    network_pool6: addressBlock(6, DEFAULT_POOL.v6).describe('IPv6 block for the same, used for tools whose allowlist has IPv6 destinations (/126 each); the pool with fewer slots bounds how many sandboxes with network run at once.'),
    drain_timeout: duration('10s').describe('On stop, how long running calls may go on before they are killed.'),
    max_calls: z.number().int().positive().default(32).describe('Calls running at once in the daemon; more wait in a queue.'),
    max_queued_calls: z.number().int().nonnegative().default(128).describe('Calls waiting for a slot; over it a call is refused at once.'),
    max_calls_per_caller: z.number().int().positive().default(8).describe('Calls running or waiting at once for one uid.'),
    max_connections_per_caller: z.number().int().positive().default(16).describe('Open connections of one uid; more are closed at once.'),
    max_messages_per_second: z.number().int().positive().default(200).describe('JSON-RPC messages per second and connection; more are refused.'),
    ready_sandboxes: z
      .number()
      .int()
      .min(0)
      .max(16)
      // Eight, not four: under back-to-back calls a build takes two to three calls' time (its
      // mounts wait on the kernel while other sandboxes are built and torn down), and a call that
      // finds none ready waits for the rest of a build. With four, 1% of the calls at concurrency 1
      // did (p99 21.8-28.8 ms, median 24.9, against 16.9-27.6, median 21.2, over seven
      // interleaved pairs of 800 calls); a ready sandbox costs the kernel about 0.2 MiB.
      .default(8)
      .describe('Sandboxes kept built ahead of demand per recently called tool (never reused; tools with secrets get none); 0: every call builds its own.'),
    ready_sandboxes_total: z
      .number()
      .int()
      .min(0)
      .default(32)
      .describe('Sandboxes kept built ahead of demand over all tools: a caller that calls every tool once gets ready_sandboxes of each only up to this many.'),
    ready_max_age: duration('30s')
      .refine((n) => n > 0, 'must be more than 0')
      .describe('A ready sandbox no call took within this time is torn down and not replaced; it also bounds how old its host-name resolution may be.'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict();

export type DaemonConfig = z.output<typeof DaemonConfigSchema> & { readonly tools_dir: string };

export class ConfigError extends Error {}

/**
 * Names the config file in place of DEFAULT_CONFIG_FILE: the launcher of a tree installed with
 * another --sysconfdir sets it, so that the admin's commands read the config the service reads.
 */
export const CONFIG_ENV = 'TOOLCELL_CONFIG';

/**
 * Reads the config: --config, else $TOOLCELL_CONFIG (either must exist), else the installed one
 * when it exists. Without any, defaults apply; the tools directory falls back to the profiles
 * bundled with this checkout when none is installed.
 */
export async function loadDaemonConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<DaemonConfig> {
  const chosen = file ?? (env[CONFIG_ENV] || undefined);
  const path = chosen ?? DEFAULT_CONFIG_FILE;
  let raw: unknown = {};
  if (chosen !== undefined || existsSync(path)) {
    let source: string;
    try {
      source = await readFile(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`${path}${file === undefined && chosen !== undefined ? ` (named by $${CONFIG_ENV})` : ''}: cannot read: ${(e as Error).message}`);
    }
    try {
      raw = parseToml(source);
    } catch (e) {
      const line = e instanceof TomlError ? `:${e.line}` : '';
      throw new ConfigError(`${path}${line}: ${(e as Error).message.split('\n')[0]}`);
    }
    const parsed = DaemonConfigSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => {
        const keys = i.code === 'unrecognized_keys' ? i.keys : [i.path.join('.')];
        return keys
          .map((k) => {
            const line = locateKey(source, k.split('.'));
            return `${path}${line ? `:${line}` : ''}: ${k}: ${i.code === 'unrecognized_keys' ? 'unknown key' : i.message}`;
          })
          .join('\n');
      });
      throw new ConfigError(lines.join('\n'));
    }
    return withToolsDir(parsed.data);
  }
  return withToolsDir(DaemonConfigSchema.parse(raw));
}

function withToolsDir(c: z.output<typeof DaemonConfigSchema>): DaemonConfig {
  return { ...c, tools_dir: c.tools_dir ?? (existsSync(INSTALLED_TOOLS_DIR) ? INSTALLED_TOOLS_DIR : BUNDLED_TOOLS_DIR) };
}
