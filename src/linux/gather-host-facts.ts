// Reads what planning needs from the host: path types, the sandbox user, bwrap's features. All of
// the probing happens here, before planning, never while an argv is being built.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import type { HostFacts, PathFact, SandboxUser } from '../plan/host-facts.js';
import type { Profile } from '../profile/profile.js';
import { BWRAP_PATH } from '../plan/bwrap-command.js';
import { resolveHosts } from './resolve-hosts.js';
import { hostHasIPv6 } from './sandbox-network.js';

/**
 * Synchronous on purpose: a few microseconds each on a local file system, against some 25 µs of
 * the daemon's CPU per call through the worker pool's promises, for every bind of every sandbox
 * built. (A bind source on a hung network file system would stall the worker pool just the same,
 * and with it every spawn.)
 */
function pathFact(path: string): PathFact {
  try {
    const st = lstatSync(path);
    let real: string | undefined;
    try {
      real = realpathSync.native(path);
    } catch {
      // a dangling symlink: no real path
    }
    if (st.isSymbolicLink()) return { type: 'symlink', target: readlinkSync(path), real };
    return { type: st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other', real: real ?? path };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { type: 'missing' };
    throw e;
  }
}

/** Built by scripts/setup.sh from native/pty-exec.c (dist/src/linux → dist/native). */
export const PTY_HELPER = fileURLToPath(new URL('../../native/pty-exec', import.meta.url));
/** Built from native/sandbox-exec.c: execs the argv the daemon hands over, in every sandbox. */
export const EXEC_HELPER = fileURLToPath(new URL('../../native/sandbox-exec', import.meta.url));
/** Built from native/probe.c: the in-sandbox half of `toolcell probe`. */
export const PROBE_HELPER = fileURLToPath(new URL('../../native/probe', import.meta.url));

let disableUserns: boolean | undefined;

export function bwrapSupportsDisableUserns(): boolean {
  if (disableUserns === undefined) {
    const help = execFileSync(BWRAP_PATH, ['--help'], { env: {}, encoding: 'utf8' });
    disableUserns = help.includes('--disable-userns');
  }
  return disableUserns;
}

export async function gatherHostFacts(profile: Profile, user: SandboxUser): Promise<HostFacts> {
  const sources = profile.mounts.flatMap((m) => (m.kind === 'tmpfs' ? [] : [m.source]));
  const facts = sources.map(pathFact);
  const names = profile.egress.flatMap((e) => (e.target.kind === 'host' ? [e.target.name] : []));
  const resolved = names.length > 0 ? await resolveHosts(names, await hostHasIPv6()) : {};
  return {
    resolved,
    paths: Object.fromEntries(sources.map((s, i) => [s, facts[i]!])),
    user,
    bwrapDisableUserns: bwrapSupportsDisableUserns(),
    ptyHelper: PTY_HELPER,
    execHelper: EXEC_HELPER,
  };
}
