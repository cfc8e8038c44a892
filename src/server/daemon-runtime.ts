// How the daemon's process is started (systemd/toolcell.service, `npm start`, the tests' daemons;
// a unit test keeps the three equal), for its memory under load:
// - V8's young-generation semi-spaces at 1 MiB instead of 16: otherwise the heap grows by some
//   30 MiB of short-lived garbage (MCP messages, results); the benchmark lost no throughput to
//   the extra scavenges. --optimize-for-size implies this size, and V8's implication overrides a
//   larger value given with it: with `--max-semi-space-size=2`, written here before, the new
//   space was 1 MiB all the same (v8.getHeapSpaceStatistics). Written out so that an A/B with
//   --no-optimize-for-size changes one thing. Without --optimize-for-size, 2 MiB semi-spaces
//   halved the scavenges but moved neither the tail at concurrency 1 nor the calls per second
//   at 16 beyond the noise (three interleaved rounds), and took the peak RSS to 95.5 MiB.
// - V8's --optimize-for-size ("favor memory size over execution speed"): in six interleaved A/B
//   rounds of the benchmark's load the daemon's peak RSS was 91.6-95.9 MiB against 97.5-99.9
//   (V8's own part 30-31.5 MiB against 34), its CPU per call and the calls per second the same
//   within the noise. Only on node's command line: Node refuses it in NODE_OPTIONS, and set at
//   run time (as the flag below is) it saved 3.3 MiB where the command line saved 5.4.
// - One malloc arena for all threads: libnftables runs on the worker pool, and with an arena per
//   thread what one thread freed stayed mapped in its arena (160 MiB at 64 network calls at once,
//   against 125 MiB with one). It must be set before the process starts (mallopt at run time
//   comes after threads already made their arenas).
import { setFlagsFromString } from 'node:v8';

export const DAEMON_NODE_OPTIONS = ['--max-semi-space-size=1', '--optimize-for-size'] as const;
export const DAEMON_ENV = { MALLOC_ARENA_MAX: '1' } as const;

/**
 * Set by bin/toolcell.js before anything else is loaded (Node refuses this V8 flag in NODE_OPTIONS;
 * V8 reads it at each full collection, so it must be set before the first, which loading the
 * modules makes): the old generation may grow by half its live size before the next full
 * collection, not by the 1.1-4x V8 picks by itself. Under 64 concurrent network calls the heap
 * went to 48 MiB with 21 MiB live, the daemon to 107 MiB; with this, 90 MiB. The benchmark showed
 * no loss of throughput (the marking runs concurrently, on V8's own threads).
 */
export function tuneHeap(): void {
  setFlagsFromString('--heap-growing-percent=50');
}
