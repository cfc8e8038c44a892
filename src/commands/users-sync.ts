// `toolcell users sync`: create the missing tool users (and the client group) from the profiles,
// then report every tool whose profile or user is still refused, with the reason.
//
// The exit status says whether users sync did its own job: the client group and the user of every
// profile that parses exist. A broken profile is reported (file:line: key: why, as `toolcell
// check` does) but does not fail it: the service runs users sync before every start and reload, and
// the daemon skips a broken profile and serves the others, so a typo in one profile must not keep
// every tool down. `toolcell check` is the command whose status reflects the profiles.
import { createGroup, createToolUser, groupExists, lookupUserRecord } from '../linux/users.js';
import { untrustedToolsDir } from '../linux/trusted-dir.js';
import { loadProfiles } from '../profile/load-profiles.js';
import { loadTools } from '../profile/load-tools.js';
import { describeProfileError } from '../profile/profile.js';

export async function runUsersSync(toolsDir: string, clientGroup: string): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('toolcell users sync: must run as root (it creates system users)\n');
    return 1;
  }
  // The same trust the daemon asks of its tools directory: the users made here are named by it.
  const untrusted = untrustedToolsDir(toolsDir);
  if (untrusted) {
    process.stderr.write(`toolcell users sync: tools directory ${untrusted}\n`);
    return 1;
  }
  let failed = false;
  const { profiles } = await loadProfiles(toolsDir);
  if (!(await groupExists(clientGroup))) {
    try {
      await createGroup(clientGroup);
      process.stdout.write(`created group ${clientGroup} (members may connect to the socket)\n`);
    } catch (e) {
      process.stderr.write(`toolcell users sync: cannot create group ${clientGroup}: ${(e as Error).message}\n`);
      failed = true;
    }
  }
  const toolsOf = new Map<string, string[]>();
  for (const p of profiles.values()) toolsOf.set(p.identity.user, [...(toolsOf.get(p.identity.user) ?? []), p.name]);
  for (const [name, tools] of [...toolsOf].sort(([a], [b]) => a.localeCompare(b))) {
    if (await lookupUserRecord(name)) continue;
    // A user named by two tools is refused for both whatever it looks like: making it would only
    // leave behind an account that no tool may run as.
    if (tools.length > 1) {
      process.stderr.write(`toolcell users sync: not creating user ${name}: it is named by ${tools.join(', ')}, and every tool needs a user of its own\n`);
      continue;
    }
    try {
      await createToolUser(name);
    } catch (e) {
      process.stderr.write(`toolcell users sync: cannot create user ${name} for ${tools.join(', ')}: ${(e as Error).message}\n`);
      failed = true;
      continue;
    }
    const record = await lookupUserRecord(name);
    if (!record) {
      process.stderr.write(`toolcell users sync: created user ${name} for ${tools.join(', ')}, but it cannot be looked up\n`);
      failed = true;
      continue;
    }
    process.stdout.write(`created user ${name} (uid ${record.uid}) for ${tools.join(', ')}\n`);
  }
  const { errors } = await loadTools(toolsDir, clientGroup);
  for (const e of errors) process.stderr.write(`${describeProfileError(e)}\n`);
  if (errors.length > 0) {
    process.stderr.write(`toolcell users sync: ${errors.length} profile error(s) above; those tools are not served, the others are (details: toolcell check)\n`);
  }
  return failed ? 1 : 0;
}
