// What tools/list says about a tool, derived from its profile so that it cannot claim less than
// the sandbox allows: MCP annotations, and a one-line policy summary after the admin's description.
import { describeSize } from '../plan/parse-units.js';
import type { Profile } from './profile.js';

export interface ToolMetadata {
  readonly description: string;
  readonly annotations: { readonly readOnlyHint: boolean; readonly destructiveHint: boolean; readonly openWorldHint: boolean };
}

export function toolMetadata(profile: Profile): ToolMetadata {
  const writable = profile.mounts.filter((m) => m.kind === 'bind').map((m) => m.dest);
  const network = profile.egress.length === 0 ? 'no network' : `network only to ${profile.egress.map((e) => e.text).join(', ')}`;
  const files = writable.length === 0 ? 'host files read-only' : `writes ${writable.join(', ')}`;
  const limits = `${describeSize(profile.limits.memory)} memory, ${profile.limits.timeout / 1000} s`;
  return {
    description: `${profile.description}\n[toolcell sandbox: ${network}; ${files}; ${limits}]`,
    annotations: { readOnlyHint: writable.length === 0, destructiveHint: writable.length > 0, openWorldHint: profile.egress.length > 0 },
  };
}
