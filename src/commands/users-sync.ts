// `toolcell users sync`: create the missing tool users (and the client group) from the profiles,
// then report every tool whose user is still refused, with the reason.
import { createGroup, createToolUser, groupExists, lookupUserRecord } from '../linux/users.js';
import { loadProfiles } from '../profile/load-profiles.js';
import { loadTools } from '../profile/load-tools.js';
import { describeProfileError } from '../profile/profile.js';

export async function runUsersSync(toolsDir: string, clientGroup: string): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('toolcell users sync: must run as root (it creates system users)\n');
    return 1;
  }
  const { profiles } = await loadProfiles(toolsDir);
  if (!(await groupExists(clientGroup))) {
    await createGroup(clientGroup);
    process.stdout.write(`created group ${clientGroup} (members may connect to the socket)\n`);
  }
  const users = new Set([...profiles.values()].map((p) => p.identity.user));
  for (const name of [...users].sort()) {
    if (await lookupUserRecord(name)) continue;
    await createToolUser(name);
    const record = await lookupUserRecord(name);
    const tools = [...profiles.values()].filter((p) => p.identity.user === name).map((p) => p.name);
    process.stdout.write(`created user ${name} (uid ${record?.uid ?? '?'}) for ${tools.join(', ')}\n`);
  }
  const { errors } = await loadTools(toolsDir, clientGroup);
  for (const e of errors) process.stderr.write(`${describeProfileError(e)}\n`);
  return errors.length > 0 ? 1 : 0;
}
