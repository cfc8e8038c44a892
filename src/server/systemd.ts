// What the daemon tells systemd and takes from it: readiness, reloads and stops (sd_notify's
// protocol, on NOTIFY_SOCKET), and the listening socket of toolcell.socket (LISTEN_FDS).
import { sendUnixDatagram } from '../../native/libc.js';

/** The state line to NOTIFY_SOCKET when systemd asked for it; a no-op when run by hand. */
export function notifySystemd(state: string): void {
  const path = process.env.NOTIFY_SOCKET;
  if (!path) return;
  sendUnixDatagram(path, state);
}

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
const LISTEN_FDS_START = 3;

/**
 * The listening socket systemd passed, or undefined. Only when LISTEN_PID names this process (the
 * variables are inherited by children, who must not take them as theirs); the variables are removed
 * so nothing started later sees them.
 */
export function takeListenFd(): number | undefined {
  const { LISTEN_PID, LISTEN_FDS } = process.env;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  if (LISTEN_PID === undefined || Number(LISTEN_PID) !== process.pid) return undefined;
  const count = Number(LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return undefined;
  if (count > 1) throw new Error(`systemd passed ${count} sockets; toolcell.socket has exactly one`);
  return LISTEN_FDS_START;
}
