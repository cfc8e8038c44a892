// What a filter did, where the kernel tells: it writes seccomp events as audit records (type=1326)
// to its log, which root reads from /dev/kmsg. Kills are always written; hits of action "log" only
// when the kernel's audit context is active (audit rules loaded), so on many hosts they are not.
// The records name the uid, and every tool has a uid of its own, so a call's records are those of
// its uid within its time window (two concurrent calls of one tool share them). Without auditd the
// kernel rate-limits these lines (printk_ratelimit: about 10 per 5 s), so the report is best effort.
import { constants, openSync, readSync } from 'node:fs';

export type SeccompEventAction = 'log' | 'kill';

export interface SeccompLogEntry {
  /** The syscall's ABI (AUDIT_ARCH_*): a foreign one's numbers mean other calls. */
  readonly arch: number;
  readonly nr: number;
  readonly action: SeccompEventAction;
  readonly count: number;
}

// The kernel's record (audit_seccomp) is `auid= uid= gid= ses=`, [subj=], `pid= comm= exe=`, then
// `sig= arch= syscall= compat= ip= code=`. comm and exe are the tool's to choose (prctl(PR_SET_NAME),
// the name of a file it execs), so text like "syscall=39" may stand between the two ends: fields
// are read from the fixed head and the fixed tail only, never searched for in between.
const HEAD = /^[^;]*;audit: type=1326 audit\((\d+)\.(\d+):\d+\): auid=\d+ uid=(\d+) gid=\d+ ses=\d+ /;
const TAIL = / sig=-?\d+ arch=([0-9a-f]+) syscall=(-?\d+) compat=\d+ ip=0x[0-9a-f]+ code=(0x[0-9a-f]+)$/;
const CODES: Record<string, SeccompEventAction> = { '0x7ffc0000': 'log', '0x80000000': 'kill', '0x0': 'kill' };

/** Parses one /dev/kmsg record ("prio,seq,usec,flags;message"); pure, for tests. */
export function parseAuditRecord(line: string): { timeMs: number; uid: number; arch: number; nr: number; action: SeccompEventAction } | undefined {
  // The message ends at the first newline (dictionary lines may follow); the kernel hex-encodes a
  // comm or exe with a newline in it, so none of the tool's text can end it early.
  const end = line.indexOf('\n');
  const message = end < 0 ? line : line.slice(0, end);
  const head = HEAD.exec(message);
  const tail = TAIL.exec(message);
  const action = tail ? CODES[tail[3] ?? ''] : undefined;
  if (!head || !tail || !action) return undefined;
  return { timeMs: Number(head[1]) * 1000 + Number(head[2]), uid: Number(head[3]), arch: parseInt(tail[1] ?? '', 16), nr: Number(tail[2]), action };
}

type AuditRecord = NonNullable<ReturnType<typeof parseAuditRecord>>;

/** Seccomp records kept from the kernel's log, the newest; each call picks its own out of them. */
const KEPT_RECORDS = 10_000;

/**
 * One reader of /dev/kmsg for the process, kept open: each call reads only the records written
 * since the last one, on the event loop, instead of the whole log (thousands of records, 7-30 ms
 * of the daemon's one thread per call of a tool whose filter kills or logs).
 */
class KernelLog {
  private fd: number | null | undefined;
  private readonly records: AuditRecord[] = [];
  private readonly buf = Buffer.alloc(8192);

  /** Reads what is new; the first time, the whole log. */
  private poll(): void {
    if (this.fd === undefined) {
      try {
        this.fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (e) {
        // No log to read here (no /dev/kmsg, not root): not asked again. Anything else (out of
        // descriptors under load) is asked again at the next call, or kills would go unreported.
        if (['ENOENT', 'EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '')) this.fd = null;
        return;
      }
    }
    if (this.fd === null) return;
    // Each read returns one record; EAGAIN at the end, EPIPE when a record was overwritten (the
    // reader moves on to the oldest one still there).
    for (let i = 0; i < 100_000; i++) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break;
      }
      if (n <= 0) break;
      const rec = parseAuditRecord(this.buf.toString('utf8', 0, n));
      if (rec) this.records.push(rec);
    }
    if (this.records.length > KEPT_RECORDS) this.records.splice(0, this.records.length - KEPT_RECORDS);
  }

  events(uid: number, fromMs: number, toMs: number): SeccompLogEntry[] {
    this.poll();
    const counts = new Map<string, SeccompLogEntry>();
    for (const rec of this.records) {
      if (rec.uid !== uid || rec.timeMs < fromMs || rec.timeMs > toMs) continue;
      const key = `${rec.arch}/${rec.nr}/${rec.action}`;
      counts.set(key, { arch: rec.arch, nr: rec.nr, action: rec.action, count: (counts.get(key)?.count ?? 0) + 1 });
    }
    return [...counts.values()];
  }
}

const kernelLog = new KernelLog();

/** Seccomp events of `uid` between fromMs and toMs (wall clock), counted per syscall and action. */
export function readSeccompLog(uid: number, fromMs: number, toMs: number): SeccompLogEntry[] {
  return kernelLog.events(uid, fromMs, toMs);
}
