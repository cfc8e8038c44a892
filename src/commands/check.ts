// `toolcell check`: lint every profile; exit 1 listing each error as file:line: key: why.
import { loadTools } from '../profile/load-tools.js';
import { describeProfileError } from '../profile/profile.js';

export async function runCheck(toolsDir: string, clientGroup: string): Promise<number> {
  const { tools: profiles, errors, warnings } = await loadTools(toolsDir, clientGroup);
  for (const e of errors) process.stderr.write(`${describeProfileError(e)}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${describeProfileError(w)}\n`);
  const names = [...profiles.keys()];
  process.stdout.write(`${toolsDir}: ${names.length} tool(s) ok${names.length ? ` (${names.join(', ')})` : ''}, ${errors.length} error(s)\n`);
  return errors.length > 0 ? 1 : 0;
}
