// Command-line options of the benchmark scripts. A wrong option ends the script before it creates
// anything (users, the lab's namespaces, a daemon), with the option, what it expected, and the usage
// line, instead of a stack trace or a run of NaN calls.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class OptionError extends Error {}

/** A whole number of at least `min`, given as `flag`'s value. */
export function parseCount(flag: string, text: string, min: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new OptionError(`${flag} ${JSON.stringify(text)}: expected a whole number of at least ${min}`);
  return n;
}

/** A comma-separated list of whole numbers of at least `min`. */
export function parseCounts(flag: string, text: string, min: number): number[] {
  return text.split(',').map((part) => parseCount(flag, part, min));
}

/** NAME=VALUE pairs, each given as `flag`'s value. */
export function parseAssignments(flag: string, texts: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    texts.map((text) => {
      const at = text.indexOf('=');
      if (at < 1) throw new OptionError(`${flag} ${JSON.stringify(text)}: expected NAME=VALUE`);
      return [text.slice(0, at), text.slice(at + 1)];
    }),
  );
}

/**
 * Parses this process's arguments by `config` (node:util's parseArgs), then by the script's own
 * checks in `parse`; on an error prints `script: message` and the usage, and exits with status 2.
 */
export function benchOptions<C extends ParseArgsConfig, R>(script: string, usage: string, config: C, parse: (values: ReturnType<typeof parseArgs<C>>['values']) => R): R {
  try {
    return parse(parseArgs(config).values);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${script}: ${message}\nusage: ${usage}\n`);
    process.exit(2);
  }
}
