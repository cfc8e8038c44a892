// The tools the daemon serves: every profile that parses AND whose user passes the identity rules.
// A refused tool is reported with the reason, like a profile error, and the others are still served.
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
    if (problems.length > 0 || !record) {
      const line = locateKey(p.source, ['identity', 'user']);
      for (const message of problems) errors.push({ file: p.file, line, key: 'identity.user', message });
      continue;
    }
    tools.set(p.name, { profile: p, user: { name: record.name, uid: record.uid, gid: record.gid } });
  }
  return { tools, errors };
}
