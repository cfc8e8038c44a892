/*
 * run-as: makes and joins cgroups, becomes UID:GID with no supplementary groups, then execs
 * PROGRAM. Usage:
 *   run-as UID GID [--mkdir /DIR | --write /FILE VALUE | --write-if-present /FILE VALUE |
 *                   --cgroup /PATH/cgroup.procs | --cgroup /PATH/tasks]... /PROGRAM [ARG...]
 *
 * Why: the daemon starts processes with posix_spawn (no fork of the daemon; see native/spawn.ts),
 * which cannot change identity. This is the privilege transition for bwrap: root starts it, it
 * drops to the tool's user for good (groups first, then gid, then uid, each checked), so bwrap
 * never holds root. It refuses uid or gid 0. Built static: it runs before anything is loaded.
 *
 * --cgroup: joined while still root (the tool's user may not write there), before PROGRAM starts,
 * so that PROGRAM and everything it clones is in that cgroup from its first instruction. The daemon
 * passes a sandbox's invocation cgroup (one file per hierarchy): bwrap, the sandbox and the tool
 * start inside its limits, and no process of a sandbox under construction can outlive the daemon
 * unseen (see src/invocation/build-sandbox.ts). It writes 0, "the writer", to the file. Through a
 * v1 hierarchy's `tasks` that moves the writing thread alone, and then the kernel skips its global
 * threadgroup lock, whose write side can wait for an RCU grace period while it holds the cgroup
 * mutex. Through cgroup.procs every v1 join could wait so (tens of ms on a busy host), with the
 * other sandboxes' cgroup mkdirs, joins and rmdirs queued behind it. run-as has one thread, so
 * moving that thread moves the process. v2 has no `tasks`: a v2 join takes the lock.
 *
 * --mkdir, --write, --write-if-present: the cgroup itself (mkdir(2) in a cgroup file system makes
 * one) and its limits, before it is joined. Done here, not by the daemon, because a cgroup mkdir
 * waits for the kernel's cgroup mutex (held through a grace period by a move of a whole process):
 * in the daemon each one is a hand-off to its worker pool and back, in this process it is a
 * syscall off the daemon's path. --write-if-present skips a file the kernel does not have
 * (memory.memsw.* without swap accounting). Steps run in the order given; the first that fails
 * ends run-as (exit 127), and the daemon removes whatever was made.
 *
 * Then, for everything the sandbox will run: at most SANDBOX_NOFILE descriptors per process, no
 * core dumps, and the highest OOM score (see main).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Open descriptors per process of a sandbox, soft and hard (the usual soft limit of a login). */
#define SANDBOX_NOFILE 1024

/* The kernel's struct sigaction for rt_sigaction(2); only the handler matters here. */
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  unsigned long mask;
};

static int parse_id(const char *s, unsigned long *out) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 0xfffffffeUL) return -1;
  *out = v;
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && strcmp(s + n - k, suffix) == 0;
}

/* A cgroup's membership file: cgroup.procs (v1 or v2), or a v1 hierarchy's tasks. */
static int is_join_file(const char *path) {
  return path[0] == '/' && (ends_with(path, "/cgroup.procs") || ends_with(path, "/tasks"));
}

/* Writes `value` to the existing file `path` in one write(2); -1 with errno on failure. */
static int write_file(const char *path, const char *value) {
  size_t len = strlen(value);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, value, len);
  int saved = errno;
  close(fd);
  if (w < 0 || (size_t)w != len) {
    errno = w < 0 ? saved : EIO;
    return -1;
  }
  return 0;
}

/* The steps before the drop, in order: how many argv entries each takes after its flag. */
static int step_args(const char *flag, const char *first) {
  if (first == NULL || first[0] != '/') return -1;
  if (strcmp(flag, "--mkdir") == 0) return 1;
  if (strcmp(flag, "--write") == 0 || strcmp(flag, "--write-if-present") == 0) return 2;
  if (strcmp(flag, "--cgroup") == 0) return is_join_file(first) ? 1 : -1;
  return -1;
}

static int run_step(char **step) {
  const char *flag = step[0], *path = step[1];
  if (strcmp(flag, "--mkdir") == 0) {
    if (mkdir(path, 0755) == 0) return 0;
    fprintf(stderr, "run-as: creating cgroup %s: %s\n", path, strerror(errno));
  } else if (strcmp(flag, "--cgroup") == 0) {
    if (write_file(path, "0") == 0) return 0;
    fprintf(stderr, "run-as: joining cgroup %s: %s\n", path, strerror(errno));
  } else {
    if (write_file(path, step[2]) == 0 || (errno == ENOENT && strcmp(flag, "--write-if-present") == 0)) return 0;
    fprintf(stderr, "run-as: writing %s to %s: %s\n", step[2], path, strerror(errno));
  }
  return -1;
}

int main(int argc, char **argv) {
  unsigned long uid, gid;
  int prog = 3;
  for (int n; prog + 1 < argc && argv[prog][0] == '-' && (n = step_args(argv[prog], argv[prog + 1])) > 0 && prog + n < argc; prog += 1 + n) {
  }
  if (argc < prog + 1 || parse_id(argv[1], &uid) != 0 || parse_id(argv[2], &gid) != 0 || argv[prog][0] != '/') {
    fprintf(stderr,
            "run-as: usage: run-as UID GID [--mkdir /DIR | --write /FILE VALUE | --write-if-present /FILE VALUE | --cgroup /PATH/cgroup.procs | --cgroup /PATH/tasks]... "
            "/PROGRAM [ARG...] (UID and GID not 0)\n");
    return 127;
  }
  /*
   * posix_spawn leaves glibc's two internal signals (32, 33) ignored in the child, and an ignored
   * signal stays ignored across exec: every signal gets its default disposition back. Raw
   * rt_sigaction, since glibc's sigaction refuses its internal signals.
   */
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct kernel_sigaction dfl = {.handler = SIG_DFL};
    syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(unsigned long));
  }
  for (int i = 3; i < prog; i += 1 + step_args(argv[i], argv[i + 1])) {
    if (run_step(argv + i) != 0) return 127;
  }
  /*
   * What the cgroup does not hold. Descriptors: the kernel does not charge the data queued on Unix
   * sockets to the cgroup, so their number bounds it, and the daemon's own limit (a unit's
   * LimitNOFILE, 524288) would be inherited. Core dumps: none onto the host's disk. The OOM killer:
   * the sandbox is the first to go when the host runs short, not the daemon or the user's session.
   */
  struct rlimit files = {SANDBOX_NOFILE, SANDBOX_NOFILE}, core = {0, 0};
  if (setrlimit(RLIMIT_NOFILE, &files) != 0 || setrlimit(RLIMIT_CORE, &core) != 0 || write_file("/proc/self/oom_score_adj", "1000") != 0) {
    fprintf(stderr, "run-as: limiting the sandbox (descriptors, core dumps, OOM score): %s\n", strerror(errno));
    return 127;
  }
  if (setgroups(0, NULL) != 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 || setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) {
    fprintf(stderr, "run-as: cannot become %lu:%lu: %s\n", uid, gid, strerror(errno));
    return 127;
  }
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 || r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid ||
      getgroups(0, NULL) != 0) {
    fprintf(stderr, "run-as: identity not dropped as asked\n");
    return 127;
  }
  execv(argv[prog], argv + prog);
  fprintf(stderr, "run-as: exec %s: %s\n", argv[prog], strerror(errno));
  return 127;
}
