// The tools the daemon serves: every profile that parses AND whose user passes the identity rules.
// A refused tool is reported with the reason, like a profile error, and the others are still served.
import { stat } from 'node:fs/promises';
import { openSecret, SecretError } from '../linux/read-secret.js';
import { lookupUserRecord, type UserRecord } from '../linux/users.js';
import { compileSeccomp } from '../linux/compile-seccomp.js';
import { planSeccomp, SeccompPolicyError } from '../plan/seccomp-policy.js';
import type { SandboxUser } from '../plan/host-facts.js';
import { identityProblems, identityWarnings } from './check-identity.js';
import { nestedInWritable } from './writable-nesting.js';
import { loadProfiles } from './load-profiles.js';
import { isWide } from '../plan/egress-allow.js';
import { neverReachable } from '../plan/network-plan.js';
import { locateKey } from './locate-key.js';
import type { Profile, ProfileError } from './profile.js';

export interface ServedTool {
  readonly profile: Profile;
  readonly user: SandboxUser;
  /** The profile's seccomp filter as BPF, compiled once here and handed to bwrap per call. */
  readonly seccomp: Buffer;
}

export interface LoadedTools {
  readonly tools: ReadonlyMap<string, ServedTool>;
  readonly errors: readonly ProfileError[];
  /** Served anyway, but probably not what the admin meant. */
  readonly warnings: readonly ProfileError[];
}

/**
 * Whether the user may write into the directory, by its mode bits (ACLs are not read). Only the
 * primary group counts: bwrap runs with the supplementary groups cleared.
 */
export function modeAllowsWrite(st: { uid: number; gid: number; mode: number }, user: { uid: number; gid: number }): boolean {
  if (st.uid === user.uid) return (st.mode & 0o200) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o020) !== 0;
  return (st.mode & 0o002) !== 0;
}

async function writableWarnings(p: Profile, record: UserRecord): Promise<ProfileError[]> {
  const warnings: ProfileError[] = [];
  for (const m of p.mounts) {
    if (m.kind !== 'bind') continue;
    const warn = (message: string) => warnings.push({ file: p.file, line: locateKey(p.source, ['filesystem', 'writable']), key: 'filesystem.writable', message });
    try {
      const st = await stat(m.source);
      if (!modeAllowsWrite(st, record)) warn(`${m.source}: user "${record.name}" cannot write here (owner ${st.uid}:${st.gid}, mode ${(st.mode & 0o777).toString(8)})`);
    } catch (e) {
      warn(`${m.source}: ${(e as NodeJS.ErrnoException).code ?? 'cannot stat'}; calls of this tool fail until it exists`);
    }
  }
  return warnings;
}

/** What an admin should look at twice: egress to anywhere (allow_any), flagged by check and at load. */
function egressWarnings(p: Profile): ProfileError[] {
  const warnings: ProfileError[] = [];
  const wide = p.egress.filter((e) => isWide(e.target)).map((e) => e.text);
  if (wide.length > 0) {
    warnings.push({
      file: p.file,
      line: locateKey(p.source, ['network', 'allow_any']),
      key: 'network.allow_any',
      message: `${wide.join(', ')}: the tool may reach any address on ${wide.length === 1 ? 'that port' : 'those ports'} (never the host itself, link-local, multicast or other sandboxes)`,
    });
  }
  const never = neverReachable(p.egress).map((e) => e.text);
  if (never.length > 0) {
    warnings.push({
      file: p.file,
      line: locateKey(p.source, ['network', 'allow']),
      key: 'network.allow',
      message: `${never.join(', ')}: never reachable: a sandbox's firewall refuses loopback, link-local, multicast, IPv4-mapped and reserved addresses whatever the allowlist says`,
    });
  }
  return warnings;
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
  const warnings: ProfileError[] = [];
  const profiles = [...loaded.profiles.values()];
  const records = new Map<string, UserRecord | undefined>();
  for (const p of profiles) {
    if (!records.has(p.identity.user)) records.set(p.identity.user, await lookupUserRecord(p.identity.user));
  }
  const tools = new Map<string, ServedTool>();
  const nesting = nestedInWritable(profiles);
  for (const p of profiles) {
    const record = records.get(p.identity.user);
    // Shared by name or by uid (two names for one uid are one user to the kernel).
    const sharing = profiles
      .filter((o) => o !== p)
      .filter((o) => o.identity.user === p.identity.user || (record && records.get(o.identity.user)?.uid === record.uid))
      .map((o) => o.name);
    const sharingGroup = profiles
      .filter((o) => o !== p && !sharing.includes(o.name))
      .filter((o) => record && records.get(o.identity.user)?.gid === record.gid)
      .map((o) => o.name);
    const problems = identityProblems(p.identity.user, record, sharing, clientGroup, sharingGroup);
    const line = locateKey(p.source, ['identity', 'user']);
    const found: ProfileError[] = problems.map((message) => ({ file: p.file, line, key: 'identity.user', message }));
    found.push(...nesting.filter((e) => e.file === p.file));
    found.push(...(await secretProblems(p)));
    let seccomp: Buffer | undefined;
    try {
      seccomp = compileSeccomp(planSeccomp(p.seccomp), p.seccomp);
    } catch (e) {
      if (!(e instanceof SeccompPolicyError)) throw e;
      found.push({ file: p.file, line: locateKey(p.source, e.key.replace(/\[\d+\]$/, '').split('.')), key: e.key, message: e.message });
    }
    if (found.length > 0 || !record || !seccomp) {
      errors.push(...found);
      continue;
    }
    warnings.push(...identityWarnings(p.identity.user, record).map((message) => ({ file: p.file, line, key: 'identity.user', message })));
    warnings.push(...(await writableWarnings(p, record)), ...egressWarnings(p));
    tools.set(p.name, { profile: p, user: { name: record.name, uid: record.uid, gid: record.gid }, seccomp });
  }
  return { tools, errors, warnings };
}
