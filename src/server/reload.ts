// Reloading the tools directory: what the daemon serves after a reload, and the watch that
// triggers one. A profile that an edit broke keeps being served in its last good version (its
// errors are logged); a deleted profile is no longer served; running calls finish under the
// profile they started with (they hold it).
import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { ServedTool } from '../profile/load-tools.js';
import type { ProfileError } from '../profile/profile.js';

export interface Reloaded {
  readonly tools: ReadonlyMap<string, ServedTool>;
  /** Tools whose new profile has errors and whose previous version is still served. */
  readonly keptLastGood: readonly string[];
}

/** Pure: the newly loaded tools, plus the last good version of each tool whose file now has errors. */
export function mergeLastGood(previous: ReadonlyMap<string, ServedTool>, loaded: ReadonlyMap<string, ServedTool>, errors: readonly ProfileError[]): Reloaded {
  const tools = new Map(loaded);
  const keptLastGood: string[] = [];
  for (const file of new Set(errors.map((e) => e.file))) {
    const name = basename(file, '.toml');
    const old = previous.get(name);
    if (old && !tools.has(name)) {
      tools.set(name, old);
      keptLastGood.push(name);
    }
  }
  return { tools: new Map([...tools].sort(([a], [b]) => (a < b ? -1 : 1))), keptLastGood: keptLastGood.sort() };
}

/** Calls `onChange` once things have been quiet for `settleMs` after a change in `dir`. */
export function watchDirectory(dir: string, onChange: () => void, settleMs = 300): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(onChange, settleMs);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // No such directory (yet): SIGHUP still reloads.
  }
  return {
    close: () => {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
