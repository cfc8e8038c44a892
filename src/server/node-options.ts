// V8 settings the daemon is started with (systemd/toolcell.service, `npm start`, the tests'
// daemons; a unit test keeps them equal). Young-generation semi-spaces of 2 MiB instead of V8's
// default 16: under load the daemon's heap otherwise grows by some 30 MiB of short-lived garbage
// (MCP messages, results), and the benchmark found no throughput lost to the extra scavenges.
export const DAEMON_NODE_OPTIONS = ['--max-semi-space-size=2'] as const;
