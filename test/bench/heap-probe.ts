// Loaded into the bench's daemon (node --import): on SIGUSR2 it runs full garbage collections and
// writes the live heap to stderr as "heap-probe: BYTES". The leak check reads it after each part
// of its calls (LEAK_READINGS in bench.ts): RSS moves by 1-2 MiB with what malloc and V8 keep
// committed, the live heap after full collections, once settled, by under 0.1 MiB, so a leak of
// tens of bytes a call shows as a trend over 5,000 calls. Not part of the daemon; nothing else
// loads it.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
const gc = runInNewContext('gc') as Gc;

process.on('SIGUSR2', () => {
  // Twice, a moment apart: the second frees what was held until the first one's weak callbacks
  // and finalizers had run. The second is V8's last-resort collection: a plain one returns while
  // its sweeping still runs on other threads, and used_heap_size read then was up to 0.22 MiB
  // off the spaces' own sum (they agreed 300 ms later), as much as a leak check's readings move.
  // Read after the last-resort one, the two agree within 0.03 MiB.
  gc();
  setTimeout(() => {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    process.stderr.write(`heap-probe: ${getHeapStatistics().used_heap_size}\n`);
  }, 50);
});
