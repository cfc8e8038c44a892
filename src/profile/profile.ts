// The validated tool profile: what the admin wrote, normalized, plus the derived facts (mounts,
// command template) that planning needs. Pure data; nothing here touches the host.
import type { TemplateElement } from '../plan/command-template.js';
import type { AllowEntry } from '../plan/egress-allow.js';
import type { ProfileBody } from './schema.js';

export type MountSpec =
  | { readonly kind: 'ro-bind'; readonly source: string; readonly dest: string }
  | { readonly kind: 'bind'; readonly source: string; readonly dest: string }
  | { readonly kind: 'tmpfs'; readonly dest: string; readonly size: number };

export interface Profile extends Readonly<Omit<ProfileBody, 'identity'>> {
  /** identity.user is always set: the profile's own, or tc-<tool>. */
  readonly identity: { readonly user: string };
  /** The file's text, so later checks can still point at a line. */
  readonly source: string;
  /** The MCP tool name: the file name without .toml. */
  readonly name: string;
  readonly file: string;
  /** sha256 of the file's bytes, for the audit trail. */
  readonly digest: string;
  readonly template: readonly TemplateElement[];
  readonly mounts: readonly MountSpec[];
  /** [network] allow, parsed; empty: the sandbox has only lo. */
  readonly egress: readonly AllowEntry[];
}

export interface ProfileError {
  readonly file: string;
  readonly line?: number;
  readonly key: string;
  readonly message: string;
}

export function describeProfileError(e: ProfileError): string {
  return `${e.file}${e.line ? `:${e.line}` : ''}: ${e.key ? `${e.key}: ` : ''}${e.message}`;
}
