// Host process inspection for teardown tests: which processes carry a marker in their command line.
// A sandboxed `sleep 987001…` is visible on the host as bwrap's argv and as the sleep itself.
import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { pollUntil, SLOWDOWN } from './daemon.js';

/** A marker unique to one test and one run: `base` followed by random digits (a valid sleep count). */
export function uniqueMarker(base: number): string {
  return `${base}${randomInt(100_000, 1_000_000)}`;
}

/** Host pids whose /proc/PID/cmdline contains `marker` (this process excluded). */
export function pidsWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.replaceAll('\0', ' ').includes(marker)) found.push(pid);
  }
  return found;
}

/** Waits (bounded) until some host process carries the marker. */
export function waitForMarker(marker: string, timeoutMs = 10_000 * SLOWDOWN): Promise<boolean> {
  return pollUntil(() => pidsWithMarker(marker).length > 0, timeoutMs, 25);
}

/** Waits (bounded) until no host process carries the marker; true when they are all gone. */
export function waitForMarkerGone(marker: string, timeoutMs = 5_000 * SLOWDOWN): Promise<boolean> {
  return pollUntil(() => pidsWithMarker(marker).length === 0, timeoutMs, 25);
}

/** Describes the processes carrying a marker, for an assertion message. */
export function describeMarked(marker: string): string {
  return pidsWithMarker(marker)
    .map((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a) => a !== '');
        const ppid = /^PPid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '?';
        // bwrap's argv is long: its program and the end (the tool's command) say enough.
        const shown = argv.length > 8 ? [argv[0], '...', ...argv.slice(-6)] : argv;
        return `pid ${pid} (ppid ${ppid}): ${shown.join(' ')}`;
      } catch {
        return `${pid}: (gone)`;
      }
    })
    .join('\n');
}

/**
 * Cleanup after a failed teardown assertion: SIGKILLs, by pid, the processes carrying a marker this
 * test made unique (the sandboxes of a daemon the test started), so a failure leaves no debris.
 */
export function killMarked(marker: string): number[] {
  const pids = pidsWithMarker(marker);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

/** Host pids whose argv is exactly `argv` (e.g. the sandboxed tool itself, not bwrap holding its script). */
export function pidsWithArgv(argv: readonly string[]): number[] {
  const wanted = `${argv.join('\0')}\0`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1') === wanted) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Waits (bounded) until the tool process `sleep MARKER` runs, i.e. the sandbox was released. */
export function waitForSleep(marker: string, timeoutMs = 10_000 * SLOWDOWN): Promise<boolean> {
  return pollUntil(() => pidsWithArgv(['sleep', marker]).length > 0, timeoutMs, 25);
}
