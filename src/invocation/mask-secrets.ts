// Secret values never come back to the caller: every occurrence in the output is replaced by
// [secret:NAME] before the result leaves the daemon.

export interface SecretValue {
  readonly name: string;
  readonly value: string;
}

export function maskSecrets(text: string, secrets: readonly SecretValue[]): string {
  // Longest first, so a secret that contains another is masked whole.
  const ordered = [...secrets].filter((s) => s.value.length > 0).sort((a, b) => b.value.length - a.value.length);
  let out = text;
  for (const s of ordered) out = out.replaceAll(s.value, `[secret:${s.name}]`);
  return out;
}
