// Reads every *.toml in the tools directory. A broken profile is reported and not served; the
// others still are.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { untrustedFileReason } from '../linux/trusted-dir.js';
import { parseProfile } from './parse-profile.js';
import type { Profile, ProfileError } from './profile.js';

export interface LoadedProfiles {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly errors: readonly ProfileError[];
}

/** Profile files are admin input: cap them so a stray huge file cannot stall loading. */
const MAX_PROFILE_BYTES = 1024 * 1024;

export async function loadProfiles(dir: string): Promise<LoadedProfiles> {
  const profiles = new Map<string, Profile>();
  const errors: ProfileError[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.toml')).sort();
  } catch (e) {
    return { profiles, errors: [{ file: dir, key: '', message: `cannot read the tools directory: ${(e as Error).message}` }] };
  }
  for (const fileName of names) {
    const file = join(dir, fileName);
    // A profile names users that root creates and root-only files handed to the tool as secrets:
    // one that someone else may edit is theirs to point at any such file.
    const untrusted = untrustedFileReason(file);
    if (untrusted) {
      errors.push({ file, key: '', message: `not trusted: ${untrusted}; only root may change a profile` });
      continue;
    }
    let source: string;
    try {
      const bytes = await readFile(file);
      if (bytes.length > MAX_PROFILE_BYTES) throw new Error(`larger than ${MAX_PROFILE_BYTES} bytes`);
      source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (e) {
      errors.push({ file, key: '', message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const result = parseProfile(fileName.slice(0, -'.toml'.length), file, source);
    if (result.ok) profiles.set(result.profile.name, result.profile);
    else errors.push(...result.errors);
  }
  return { profiles, errors };
}
