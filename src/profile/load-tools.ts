// The tools the daemon serves: every profile that parses AND whose user passes the identity rules.
// A refused tool is reported with the reason, like a profile error, and the others are still served.
import { openSecret, SecretError } from '../linux/read-secret.js';
import { lookupUserRecord, type UserRecord } from '../linux/users.js';
import type { SandboxUser } from '../plan/host-facts.js';
import { identityProblems } from './check-identity.js';
import { loadProfiles } from './load-profiles.js';
import { locateKey } from './locate-key.js';
import type { Profile, ProfileError } from './profile.js';

export interface ServedTool {
  readonly profile: Profile;
  readonly user: SandboxUser;
}

export interface LoadedTools {
  readonly tools: ReadonlyMap<string, ServedTool>;
  readonly errors: readonly ProfileError[];
}

/** Secret files are checked when profiles load (and again, with the read, at every call). */
async function secretProblems(p: Profile): Promise<ProfileError[]> {
  const problems: ProfileError[] = [];
  for (const [name, s] of Object.entries(p.secrets)) {
    try {
      await openSecret(s.file, false);
    } catch (e) {
      if (!(e instanceof SecretError)) throw e;
      problems.push({ file: p.file, line: locateKey(p.source, ['secrets', name]), key: `secrets.${name}`, message: e.message });
    }
  }
  return problems;
}

export async function loadTools(dir: string, clientGroup: string): Promise<LoadedTools> {
  const loaded = await loadProfiles(dir);
  const errors = [...loaded.errors];
  const profiles = [...loaded.profiles.values()];
  const records = new Map<string, UserRecord | undefined>();
  for (const p of profiles) {
    if (!records.has(p.identity.user)) records.set(p.identity.user, await lookupUserRecord(p.identity.user));
  }
  const tools = new Map<string, ServedTool>();
  for (const p of profiles) {
    const record = records.get(p.identity.user);
    // Shared by name or by uid (two names for one uid are one user to the kernel).
    const sharing = profiles
      .filter((o) => o !== p)
      .filter((o) => o.identity.user === p.identity.user || (record && records.get(o.identity.user)?.uid === record.uid))
      .map((o) => o.name);
    const problems = identityProblems(p.identity.user, record, sharing, clientGroup);
    const line = locateKey(p.source, ['identity', 'user']);
    const found: ProfileError[] = problems.map((message) => ({ file: p.file, line, key: 'identity.user', message }));
    found.push(...(await secretProblems(p)));
    if (found.length > 0 || !record) {
      errors.push(...found);
      continue;
    }
    tools.set(p.name, { profile: p, user: { name: record.name, uid: record.uid, gid: record.gid } });
  }
  return { tools, errors };
}
