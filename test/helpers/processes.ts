// Host process inspection for teardown tests: which processes carry a marker in their command line.
// A sandboxed `sleep 987001…` is visible on the host as bwrap's argv and as the sleep itself.
import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { pollUntil } from './daemon.js';

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
export function waitForMarker(marker: string, timeoutMs = 10_000): Promise<boolean> {
  return pollUntil(() => pidsWithMarker(marker).length > 0, timeoutMs, 25);
}

/** Waits (bounded) until no host process carries the marker; true when they are all gone. */
export function waitForMarkerGone(marker: string, timeoutMs = 5_000): Promise<boolean> {
  return pollUntil(() => pidsWithMarker(marker).length === 0, timeoutMs, 25);
}

/** Describes the processes carrying a marker, for an assertion message. */
export function describeMarked(marker: string): string {
  return pidsWithMarker(marker)
    .map((pid) => {
      try {
        return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ')}`;
      } catch {
        return `${pid}: (gone)`;
      }
    })
    .join('\n');
}
