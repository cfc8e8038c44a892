// A fixed, Debian-like host for golden tests of pure planning: the same facts on every machine,
// so golden files do not depend on where the tests run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts, PathFact } from '../../src/plan/host-facts.js';
import { parseProfile } from '../../src/profile/parse-profile.js';
import type { Profile } from '../../src/profile/profile.js';
import { PROFILES } from './paths.js';

const dir = (real: string): PathFact => ({ type: 'directory', real });
const link = (target: string): PathFact => ({ type: 'symlink', target, real: `/${target}` });

/** A Debian-like host, fixed: /bin, /sbin, /lib and /lib64 are symlinks into /usr. */
export const FACTS: HostFacts = {
  user: { name: 'tc-test', uid: 990, gid: 990 },
  bwrapDisableUserns: true,
  ptyHelper: '/usr/lib/toolcell/native/pty-exec',
  execHelper: '/usr/lib/toolcell/native/sandbox-exec',
  resolved: {},
  paths: {
    '/usr': dir('/usr'),
    '/usr/bin': dir('/usr/bin'),
    '/usr/lib': dir('/usr/lib'),
    '/usr/lib64': dir('/usr/lib64'),
    '/usr/share/doc': dir('/usr/share/doc'),
    '/etc/alternatives': dir('/etc/alternatives'),
    '/sbin': link('usr/sbin'),
    '/bin': link('usr/bin'),
    '/lib': link('usr/lib'),
    '/lib64': link('usr/lib64'),
  },
};

export function bundled(name: string): Profile {
  const r = parseProfile(name, `${name}.toml`, readFileSync(join(PROFILES, `${name}.toml`), 'utf8'));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.profile;
}

