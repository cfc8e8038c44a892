// libc through koffi: the few calls Node does not offer. Loaded lazily so that pure code and unit
// tests never need the FFI.
import koffi from 'koffi';

type CloseRange = (first: number, last: number, flags: number) => number;
let closeRange: CloseRange | undefined;

const CLOSE_RANGE_CLOEXEC = 1 << 2;

/**
 * Marks every descriptor from 3 up close-on-exec. Node's spawn closes only what Node opened itself;
 * anything the daemon inherited (a systemd socket, a shell's open directory) would otherwise reach
 * every sandbox, and bwrap passes it straight through to the tool.
 */
export function setCloexecFrom3(): void {
  if (!closeRange) {
    const libc = koffi.load('libc.so.6');
    closeRange = libc.func('int close_range(unsigned int first, unsigned int last, int flags)') as unknown as CloseRange;
  }
  const rc = closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  if (rc !== 0) throw new Error(`close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) failed (errno ${koffi.errno()})`);
}
