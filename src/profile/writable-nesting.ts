// A path bound into a sandbox that lies inside a path some tool may write is that tool's to
// replace, between calls, with a symlink, and bwrap follows symlinks on the host when it binds: to
// /etc, to /proc, to anything its user may read. Pure: the profiles are all it looks at.
import { locateKey } from './locate-key.js';
import type { Profile, ProfileError } from './profile.js';

const inside = (path: string, dir: string) => path.startsWith(`${dir}/`);

/**
 * Every bind of every profile that lies strictly inside a writable path of any profile (another
 * tool's, or for a writable path its own). A read-only path inside its own tool's writable path is
 * parse-profile's to refuse; the same path shared is no nesting (no one can replace a directory whose
 * parent they may not write).
 */
export function nestedInWritable(profiles: readonly Profile[]): ProfileError[] {
  const errors: ProfileError[] = [];
  for (const p of profiles) {
    for (const m of p.mounts) {
      if (m.kind === 'tmpfs') continue;
      for (const o of profiles) {
        if (o === p && m.kind === 'ro-bind') continue;
        const w = o.mounts.find((x) => x.kind === 'bind' && x !== m && inside(m.source, x.source));
        if (w === undefined || w.kind !== 'bind') continue;
        const field = m.kind === 'bind' ? 'writable' : 'read_only';
        const whose = o === p ? 'this tool' : `tool ${o.name}`;
        errors.push({
          file: p.file,
          line: locateKey(p.source, ['filesystem', field]),
          key: `filesystem.${field}`,
          message: `${m.source} lies in ${w.source}, a writable path of ${whose}: it could be replaced with a symlink that bwrap follows on the host; bind it from outside every writable path`,
        });
        break;
      }
    }
  }
  return errors;
}
