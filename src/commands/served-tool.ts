// The one tool an admin command (explain, run, probe) works on, loaded as the daemon would serve
// it; when it is not served, stderr says why (its profile's errors, or that there is no such tool).
import type { DaemonConfig } from '../config/daemon-config.js';
import { loadTools, type ServedTool } from '../profile/load-tools.js';
import { describeProfileError } from '../profile/profile.js';

export interface ToolAndOthers {
  readonly tool: ServedTool;
  /** Every tool served from the same directory (probe looks at the others' paths). */
  readonly all: ReadonlyMap<string, ServedTool>;
}

export async function servedTool(command: string, config: DaemonConfig, name: string): Promise<ToolAndOthers | undefined> {
  const { tools, errors } = await loadTools(config.tools_dir, config.client_group);
  const tool = tools.get(name);
  if (tool) return { tool, all: tools };
  const own = errors.filter((e) => e.file.endsWith(`/${name}.toml`));
  process.stderr.write(
    own.length > 0
      ? `toolcell ${command}: ${name} is not served:\n${own.map((e) => `  ${describeProfileError(e)}`).join('\n')}\n`
      : `toolcell ${command}: no tool "${name}" in ${config.tools_dir} (served: ${[...tools.keys()].join(', ') || 'none'})\n`,
  );
  return undefined;
}
