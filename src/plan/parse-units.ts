// Sizes ("64M", "1G", "512K", "4096") and durations ("30s", "500ms", "2m") as written in profiles.
// Pure: returns undefined on bad input so the schema layer can name the file and key.

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([KMG]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (SIZE_UNITS[m[2] ?? ''] ?? NaN);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Every duration ends in a setTimeout, and Node fires a timer set above 2^31-1 ms after 1 ms: a
 * timeout of "36000m" would kill every call at once. Longer durations are refused, not clamped.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** The complaint about `ms` (written as `got`) when it exceeds MAX_DURATION_MS, else undefined. */
export function durationTooLong(ms: number, got: string | number): string | undefined {
  return ms > MAX_DURATION_MS ? `must be at most ${MAX_DURATION_MS} ms (24.8 days, the longest a timer can wait), got ${JSON.stringify(got)}` : undefined;
}

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function describeSize(bytes: number): string {
  for (const [unit, factor] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}
