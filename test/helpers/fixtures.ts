import { existsSync } from 'node:fs';
import pino from 'pino';
import { parseProfile } from '../../src/profile/parse-profile.js';
import type { Profile } from '../../src/profile/profile.js';

/** Parses a profile from TOML text or throws with every error; for tests. */
export function profileFrom(name: string, toml: string): Profile {
  const r = parseProfile(name, `${name}.toml`, toml);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.file}:${e.line ?? '?'}: ${e.key}: ${e.message}`).join('\n'));
  return r.profile;
}

export const silentLogger = pino({ level: 'silent' });

/** TOML of a bash tool like the bundled shell, with the given limits and extra top-level keys. */
export function shellProfileToml(description: string, limits: string, extra = ''): string {
  return `description = ${JSON.stringify(description)}
command = ["/bin/bash", "--noprofile", "--norc", "-c", "--", "{script}", "toolcell-test"]
cwd = "/work"
allow_leading_dash = ["script"]
${extra}
[input]
type = "object"
required = ["script"]
properties.script = { type = "string" }

[filesystem]
read_only = ["/usr", "/lib", "/lib64", "/bin", "/sbin"]
tmpfs = ["/work:16M", "/tmp:16M"]

[limits]
${limits}
`;
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
