// How the daemon's process is started (systemd/toolcell.service, `npm start`, the tests' daemons;
// a unit test keeps the three equal), for its memory under load:
// - V8's young-generation semi-spaces at 2 MiB instead of 16: otherwise the heap grows by some
//   30 MiB of short-lived garbage (MCP messages, results); the benchmark lost no throughput to
//   the extra scavenges.
// - One malloc arena for all threads: libnftables runs on the worker pool, and with an arena per
//   thread what one thread freed stayed mapped in its arena (160 MiB at 64 network calls at once,
//   against 125 MiB with one). It must be set before the process starts (mallopt at run time
//   comes after threads already made their arenas).
export const DAEMON_NODE_OPTIONS = ['--max-semi-space-size=2'] as const;
export const DAEMON_ENV = { MALLOC_ARENA_MAX: '1' } as const;
