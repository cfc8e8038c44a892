// The daemon's own settings (/etc/toolcell/toolcell.toml). Same rules as profiles: unknown keys are
// errors, and every error names the file, line and key.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { locateKey } from '../profile/locate-key.js';
import { parseSize } from '../plan/parse-units.js';

export const DEFAULT_CONFIG_FILE = '/etc/toolcell/toolcell.toml';
export const INSTALLED_TOOLS_DIR = '/etc/toolcell/tools';
export const BUNDLED_TOOLS_DIR = fileURLToPath(new URL('../../../profiles', import.meta.url));

export const DaemonConfigSchema = z
  .object({
    socket: z.string().startsWith('/').default('/run/toolcell/mcp.sock').describe('Unix socket the daemon listens on.'),
    tools_dir: z.string().startsWith('/').optional().describe('Directory of tool profiles (*.toml).'),
    client_group: z.string().default('toolcell').describe('Group whose members may connect (socket mode 0660).'),
    max_message_bytes: z
      .union([z.string(), z.number().int().positive()])
      .default('4M')
      .transform((v, ctx) => {
        const n = typeof v === 'number' ? v : parseSize(v);
        if (n === undefined) {
          ctx.addIssue({ code: 'custom', message: `expected a size like "4M", got ${JSON.stringify(v)}` });
          return z.NEVER;
        }
        return n;
      })
      .describe('Largest JSON-RPC message accepted from a client.'),
    cgroup_root: z
      .string()
      .regex(/^\/[^\0]*$/, 'expected an absolute cgroup path like "/toolcell"')
      .refine((p) => !p.split('/').includes('..'), 'may not contain ".."')
      .optional()
      .describe('cgroup (as /proc/self/cgroup names it) to create invocation cgroups in; default: "toolcell" below the daemon\'s own cgroup.'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict();

export type DaemonConfig = z.output<typeof DaemonConfigSchema> & { readonly tools_dir: string };

export class ConfigError extends Error {}

/**
 * Reads the config. Without --config and without an installed config, defaults apply; the tools
 * directory falls back to the profiles bundled with this checkout when none is installed.
 */
export async function loadDaemonConfig(file: string | undefined): Promise<DaemonConfig> {
  const path = file ?? DEFAULT_CONFIG_FILE;
  let raw: unknown = {};
  if (file !== undefined || existsSync(path)) {
    let source: string;
    try {
      source = await readFile(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`${path}: cannot read: ${(e as Error).message}`);
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
