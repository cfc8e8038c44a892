// `toolcell check`: lint every profile; exit 1 listing each error as file:line: key: why.
import { loadProfiles } from '../profile/load-profiles.js';
import { describeProfileError } from '../profile/profile.js';

export async function runCheck(toolsDir: string): Promise<number> {
  const { profiles, errors } = await loadProfiles(toolsDir);
  for (const e of errors) process.stderr.write(`${describeProfileError(e)}\n`);
  const names = [...profiles.keys()];
  process.stdout.write(`${toolsDir}: ${names.length} tool(s) ok${names.length ? ` (${names.join(', ')})` : ''}, ${errors.length} error(s)\n`);
  return errors.length > 0 ? 1 : 0;
}
