import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseProfile } from '../../src/profile/parse-profile.js';
import type { Profile } from '../../src/profile/profile.js';
import type { ServedTool } from '../../src/profile/load-tools.js';
import { compileSeccomp } from '../../src/linux/compile-seccomp.js';
import { planSeccomp } from '../../src/plan/seccomp-policy.js';
import { PROFILES } from './paths.js';

/** Parses a profile from TOML text or throws with every error; for tests. */
export function profileFrom(name: string, toml: string): Profile {
  const r = parseProfile(name, `${name}.toml`, toml);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.file}:${e.line ?? '?'}: ${e.key}: ${e.message}`).join('\n'));
  return r.profile;
}

export const silentLogger = pino({ level: 'silent' });

export interface ScriptTool {
  readonly description?: string;
  readonly cwd?: string;
  readonly user?: string;
  /** Host paths bound read-only besides the system's programs (/usr, /lib, /lib64, /bin, /sbin). */
  readonly readOnly?: readonly string[];
  readonly writable?: readonly string[];
  readonly tmpfs?: readonly string[];
  /** Lines of [limits]. */
  readonly limits?: string;
  /** Top-level keys (before the first table). */
  readonly extra?: string;
  /** Whole tables appended at the end ([seccomp], [secrets], ...). */
  readonly sections?: string;
}

const list = (items: readonly string[]) => `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;

/** TOML of a test tool that runs a bash script argument, like the bundled shell. */
export function scriptToolToml(t: ScriptTool = {}): string {
  return [
    `description = ${JSON.stringify(t.description ?? 'test script tool')}`,
    'command = ["/bin/bash", "--noprofile", "--norc", "-c", "--", "{script}", "toolcell-test"]',
    ...(t.cwd ? [`cwd = ${JSON.stringify(t.cwd)}`] : []),
    'allow_leading_dash = ["script"]',
    ...(t.extra ? [t.extra] : []),
    '[input]',
    'type = "object"',
    'required = ["script"]',
    'properties.script = { type = "string" }',
    ...(t.user ? ['[identity]', `user = ${JSON.stringify(t.user)}`] : []),
    '[filesystem]',
    `read_only = ${list(['/usr', '/lib', '/lib64', '/bin', '/sbin', ...(t.readOnly ?? [])])}`,
    ...(t.writable ? [`writable = ${list(t.writable)}`] : []),
    `tmpfs = ${list(t.tmpfs ?? ['/tmp:1M'])}`,
    ...(t.limits ? ['[limits]', t.limits] : []),
    ...(t.sections ? [t.sections] : []),
    '',
  ].join('\n');
}

/** A bundled profile's text, run as `user` (a test's own user for that tool). */
export function bundledAs(tool: string, user: string): string {
  return `${readFileSync(join(PROFILES, `${tool}.toml`), 'utf8')}\n[identity]\nuser = "${user}"\n`;
}

/** A shell tool like the bundled one, with the given limits and extra top-level keys. */
export function shellProfileToml(description: string, limits: string, extra = ''): string {
  return scriptToolToml({ description, limits, extra, cwd: '/work', tmpfs: ['/work:16M', '/tmp:16M'] });
}

export function shellProfile(limits = 'timeout = "10s"\noutput = "1M"', extra = ''): Profile {
  return profileFrom('testshell', shellProfileToml('test shell', limits, extra));
}

/** Why the real-kernel tests cannot run here, or undefined when they can (root and bwrap). */
export function realKernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (bwrap is started as another uid)';
  if (!existsSync('/usr/bin/bwrap')) return 'bubblewrap is not installed (/usr/bin/bwrap)';
  return undefined;
}

/** Runs a profile as nobody: the sandbox tests need an unprivileged uid, not a per-tool one. */
export function asNobody(profile: Profile): ServedTool {
  return { profile, user: { name: 'nobody', uid: 65534, gid: 65534 }, seccomp: compileSeccomp(planSeccomp(profile.seccomp), profile.seccomp) };
}

/**
 * Creates the tool users (tc-<tool>) that a test's own profiles need and returns the cleanup that
 * removes exactly the ones it created.
 */
export function createToolUsers(tools: readonly string[]): Promise<() => Promise<void>> {
  return createUsers(tools.map((tool) => `tc-${tool}`));
}

/** Creates the tool users that do not exist yet; the function returned removes exactly those. */
export async function createUsers(names: readonly string[]): Promise<() => Promise<void>> {
  const { createToolUser, lookupUserRecord, removeUser } = await import('../../src/linux/users.js');
  const created: string[] = [];
  for (const name of names) {
    if (await lookupUserRecord(name)) continue;
    await createToolUser(name);
    created.push(name);
  }
  return async () => {
    for (const name of created) await removeUser(name);
  };
}

/**
 * A fork bomb in Python, bounded even where no limit stops it: at most 200 forks, each child
 * exiting after 30 s. Prints how far it got and, when a fork is refused, why (then exit 1).
 */
export const FORK_BOMB_PY = `import os, sys, time
n = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print("forked", n, "then:", e.strerror)
    sys.exit(1)
print("forked", n)`;
