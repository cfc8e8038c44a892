// Names of things a daemon leaves in the kernel (invocation cgroups, host nft tables) carry its pid
// and start time: several daemons (tests, a second instance) can share a parent or a namespace, and
// a sweep after a crash removes only what belonged to daemons that are gone, never a live one's.
import { readFileSync } from 'node:fs';

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This daemon: "PID.STARTTIME". */
export const OWNER = `${process.pid}.${startTime(process.pid) ?? '0'}`;

/** Whether the daemon named by `pid` and `start` is still the same running process. */
export function ownerAlive(pid: number | string, start: string): boolean {
  return startTime(Number(pid)) === start;
}
