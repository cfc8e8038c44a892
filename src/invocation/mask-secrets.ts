// Secret values never come back to the caller: every occurrence in the output is replaced by
// [secret:NAME] before the result leaves the daemon.

export interface SecretValue {
  readonly name: string;
  readonly value: string;
}

/**
 * `cut`: the output cap ended the text, so it may end inside a secret. That start is masked too:
 * otherwise a caller who pads the output to move the cut learns the secret one character at a time.
 */
export function maskSecrets(text: string, secrets: readonly SecretValue[], cut = false): string {
  // Longest first, so a secret that contains another is masked whole.
  const ordered = [...secrets].filter((s) => s.value.length > 0).sort((a, b) => b.value.length - a.value.length);
  let out = text;
  for (const s of ordered) out = out.replaceAll(s.value, `[secret:${s.name}]`);
  return cut ? maskCutSecret(out, ordered) : out;
}

/** Masks the longest end of `text` that begins a secret (a character the cut split is ignored). */
function maskCutSecret(text: string, secrets: readonly SecretValue[]): string {
  const body = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
  let best: { name: string; length: number } | undefined;
  for (const s of secrets) {
    for (let n = Math.min(s.value.length - 1, body.length); n > (best?.length ?? 0); n--) {
      if (body.endsWith(s.value.slice(0, n))) {
        best = { name: s.name, length: n };
        break;
      }
    }
  }
  return best ? `${body.slice(0, body.length - best.length)}[secret:${best.name}, cut]` : text;
}
