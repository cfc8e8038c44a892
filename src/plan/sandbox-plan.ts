// Profile + arguments + host facts → SandboxPlan: the complete, readonly description of one
// invocation's sandbox. No I/O, no clock: the same inputs give the same plan, byte for byte.
import type { Profile } from '../profile/profile.js';
import { fillTemplate } from './command-template.js';
import type { HostFacts, PathFact, SandboxUser } from './host-facts.js';
import { hostStateTreeOf, systemTreeOf } from './system-trees.js';
import { hostsFileFor, resolveAllow, type SandboxNetwork } from './network-plan.js';

/** Mount operations in the order bwrap must perform them (one exhaustive union, see to-bwrap-argv). */
export type PlannedMount =
  | { readonly op: 'ro-bind'; readonly source: string; readonly dest: string }
  | { readonly op: 'bind'; readonly source: string; readonly dest: string }
  | { readonly op: 'tmpfs'; readonly dest: string; readonly size: number }
  | { readonly op: 'symlink'; readonly target: string; readonly dest: string }
  | { readonly op: 'proc'; readonly dest: string }
  | { readonly op: 'dev'; readonly dest: string };

/**
 * Everything about a sandbox except the call's arguments: it can be built before they are known
 * (the daemon keeps some ready), and sandbox-exec then runs `argv` in it.
 */
export interface SandboxEnclosure {
  readonly tool: string;
  readonly user: SandboxUser;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly PlannedMount[];
  /** Read-only paths the profile lists that this host does not have (skipped, not fatal). */
  readonly missing: readonly string[];
  readonly hostname: string;
  readonly disableUserns: boolean;
  /** The tool runs on a terminal that pty-exec opens inside the sandbox. */
  readonly pty: boolean;
  readonly timeoutMs: number;
  readonly outputBytes: number;
  /** Names and delivery of the tool's secrets; never their values (those stay out of plans). */
  readonly secrets: readonly PlannedSecret[];
  /** The allowlist with its names resolved; undefined: the sandbox's namespace has only lo. */
  readonly network: SandboxNetwork | undefined;
}

export interface SandboxPlan extends SandboxEnclosure {
  /** The tool's argv, filled from the call's arguments; sandbox-exec execs it. */
  readonly argv: readonly string[];
}

export interface PlannedSecret {
  readonly name: string;
  readonly file: string;
  readonly as: 'env' | 'file';
}

export class PlanError extends Error {}

/** /dev/shm gets a bound like every other tmpfs: bwrap's --dev leaves it unbounded. */
export const DEV_SHM_SIZE = 16 * 1024 * 1024;
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
export const PTY_HELPER_DEST = '/.toolcell/pty-exec';
/** Where native/sandbox-exec is bound in every sandbox: the program bwrap starts. */
export const EXEC_HELPER_DEST = '/.toolcell/exec';

/**
 * A writable bind must be exactly the directory the admin named: no symlink on the way (checked
 * when the sandbox is built; bwrap then binds as the tool's uid, so a later swap can only lead to what
 * that uid may write anyway) and never a system tree.
 */
function checkWritable(tool: string, source: string, fact: Exclude<PathFact, { type: 'missing' }>): void {
  if (fact.type === 'symlink' || fact.real !== source) {
    throw new PlanError(`tool ${tool}: writable host path ${source} passes through a symlink (resolves to ${fact.real ?? 'nothing'})`);
  }
  const tree = systemTreeOf(fact.real);
  if (tree) throw new PlanError(`tool ${tool}: writable host path ${source} is in the system tree ${tree}`);
}

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);

export function planSandbox(profile: Profile, args: Readonly<Record<string, unknown>>, facts: HostFacts): SandboxPlan {
  return { ...planEnclosure(profile, facts), argv: planArgv(profile, args) };
}

/** The argv sandbox-exec runs; throws ArgumentError for arguments the template refuses. */
export function planArgv(profile: Profile, args: Readonly<Record<string, unknown>>): string[] {
  const toolArgv = fillTemplate(profile.template, args, new Set(profile.allow_leading_dash));
  return profile.pty ? [PTY_HELPER_DEST, '--', ...toolArgv] : toolArgv;
}

export function planEnclosure(profile: Profile, facts: HostFacts): SandboxEnclosure {
  if (facts.user.uid === 0 || facts.user.gid === 0) {
    throw new PlanError(`tool ${profile.name}: sandbox user ${facts.user.name} is root; tools never run as root`);
  }

  const missing: string[] = [];
  const mounts: PlannedMount[] = [];
  // Where the writable paths really are: a bind that reaches inside one through a symlink is as
  // replaceable by the tool as one named inside it (which the profile's load refuses).
  const writableReal = profile.mounts.flatMap((m) => {
    if (m.kind !== 'bind') return [];
    const fact = facts.paths[m.source];
    return fact && fact.type !== 'missing' && fact.real !== undefined ? [{ source: m.source, real: fact.real }] : [];
  });
  for (const m of profile.mounts) {
    if (m.kind === 'tmpfs') {
      mounts.push({ op: 'tmpfs', dest: m.dest, size: m.size });
      continue;
    }
    const fact: PathFact = facts.paths[m.source] ?? { type: 'missing' };
    if (fact.type !== 'missing' && fact.real === '/') {
      throw new PlanError(`tool ${profile.name}: host path ${m.source} resolves to the host's "/", which is never bound whole`);
    }
    if (m.kind === 'bind' && fact.type !== 'missing') checkWritable(profile.name, m.source, fact);
    if (fact.type === 'missing') {
      if (m.kind === 'bind') throw new PlanError(`tool ${profile.name}: writable host path ${m.source} does not exist`);
      missing.push(m.source);
    } else if (fact.type === 'symlink' && m.dest === m.source) {
      // Keep the host's layout (/bin -> usr/bin on Debian): the link resolves inside the sandbox
      // only to what is bound there too, never to the host path behind it.
      mounts.push({ op: 'symlink', target: fact.target, dest: m.dest });
    } else {
      // bwrap follows symlinks on the host when it binds: a path that led into the host's /proc
      // would bind the host's processes.
      const state = fact.real === undefined ? undefined : hostStateTreeOf(fact.real);
      if (state) throw new PlanError(`tool ${profile.name}: host path ${m.source} resolves to ${fact.real} in the host's ${state}, which is never bound`);
      const real = fact.real;
      const nest = real === undefined ? undefined : writableReal.find((w) => w.source !== m.source && real.startsWith(`${w.real}/`));
      if (nest) throw new PlanError(`tool ${profile.name}: host path ${m.source} resolves to ${real}, inside the writable path ${nest.source}: the tool could replace it with a symlink`);
      mounts.push({ op: m.kind, source: m.source, dest: m.dest });
    }
  }
  // Parents before children (a tmpfs /work before a bind on /work/out); stable otherwise.
  mounts.sort((a, b) => depth(a.dest) - depth(b.dest));
  // toolcell's own helpers last, so that no mount of the profile can cover or replace them.
  mounts.push({ op: 'ro-bind', source: facts.execHelper, dest: EXEC_HELPER_DEST });
  if (profile.pty) mounts.push({ op: 'ro-bind', source: facts.ptyHelper, dest: PTY_HELPER_DEST });
  mounts.unshift(
    { op: 'proc', dest: '/proc' },
    { op: 'dev', dest: '/dev' },
    { op: 'tmpfs', dest: '/dev/shm', size: DEV_SHM_SIZE },
    // bwrap's /dev has a devpts of its own, whose ptys count against the host's limit for every
    // devpts but the host's (pty.max less pty.reserve, about 3,000): a tool that is not a terminal
    // tool could take them all from every container and pty tool until its timeout.
    ...(profile.pty ? [] : [{ op: 'ro-bind' as const, source: '/dev/null', dest: '/dev/pts/ptmx' }]),
  );

  const firstTmpfs = profile.mounts.find((m) => m.kind === 'tmpfs')?.dest;
  const cwd = profile.cwd ?? firstTmpfs ?? '/';
  // HOME is where programs read their dotfiles from: a fresh tmpfs holds none, where a data
  // directory as cwd (a repository, a checkout) may hold a .gitconfig its committers wrote.
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: firstTmpfs ?? cwd, LANG: 'C.UTF-8', ...profile.env };

  const hostname = 'toolcell';
  return {
    tool: profile.name,
    user: facts.user,
    cwd,
    env: Object.fromEntries(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    mounts,
    missing,
    hostname,
    disableUserns: facts.bwrapDisableUserns,
    pty: profile.pty,
    timeoutMs: profile.limits.timeout,
    outputBytes: profile.limits.output,
    secrets: Object.entries(profile.secrets)
      .map(([name, s]) => ({ name, file: s.file, as: s.as }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    network: profile.egress.length === 0 ? undefined : { allow: resolveAllow(profile.egress, facts.resolved), hostsFile: hostsFileFor(hostname, facts.resolved) },
  };
}
