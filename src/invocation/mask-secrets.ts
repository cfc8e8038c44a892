// Secret values never come back to the caller: every occurrence in the output is replaced by
// [secret:NAME] before the result leaves the daemon.
import { stripTerminalControls } from './strip-terminal.js';

export interface SecretValue {
  readonly name: string;
  readonly value: string;
}

/**
 * `cut`: the output cap ended the text, so it may end inside a secret. Then its last characters go,
 * as many as the longest secret has, whatever they are: masked only where they began a secret, the
 * mask would tell a caller who pads the output to move the cut whether its guess of the next
 * character was right, and so give the secret away one character at a time.
 */
export function maskSecrets(text: string, secrets: readonly SecretValue[], cut = false): string {
  // Longest first, so a secret that contains another is masked whole.
  const ordered = [...secrets].filter((s) => s.value.length > 0).sort((a, b) => b.value.length - a.value.length);
  let out = text;
  for (const s of ordered) out = out.replaceAll(s.value, `[secret:${s.name}]`);
  if (!cut || ordered.length === 0) return out;
  // The first is the longest: the start of any secret fits in that many characters, a character
  // the cut split (U+FFFD) among them.
  return `${out.slice(0, Math.max(0, out.length - ordered[0]!.value.length))}${CUT_MARK}`;
}

/** What stands for the end of a cut output when the call had secrets. */
export const CUT_MARK = '[withheld: the cut may have split a secret]';

/**
 * Output of a tool on a terminal. A secret that holds a control character ("tok\r" from a file
 * written with CRLF) is no longer whole once the controls are stripped, so those are masked first;
 * only those, so that a longer secret that contains one of them (a URL with a password) is still
 * masked whole after. Then everything is masked, each secret also as stripping leaves it (the
 * terminal wrote "\r\n" for each "\n" of a secret, which stripping takes back).
 */
export function maskTerminalOutput(text: string, secrets: readonly SecretValue[], cut = false): string {
  const stripped = secrets.map((s) => ({ name: s.name, value: stripTerminalControls(s.value) }));
  const withControls = secrets.filter((s, i) => stripped[i]!.value !== s.value);
  return maskSecrets(stripTerminalControls(maskSecrets(text, withControls)), [...secrets, ...stripped], cut);
}
