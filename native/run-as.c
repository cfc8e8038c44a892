/*
 * run-as: becomes UID:GID with no supplementary groups, then execs PROGRAM. Usage:
 *   run-as UID GID PROGRAM [ARG...]
 *
 * Why: the daemon starts processes with posix_spawn (no fork of the daemon; see native/spawn.ts),
 * which cannot change identity. This is the privilege transition for bwrap: root starts it, it
 * drops to the tool's user for good (groups first, then gid, then uid, each checked), so bwrap
 * never holds root. It refuses uid or gid 0. Built static: it runs before anything is loaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
  unsigned long uid, gid;
  if (argc < 4 || parse_id(argv[1], &uid) != 0 || parse_id(argv[2], &gid) != 0 || argv[3][0] != '/') {
    fprintf(stderr, "run-as: usage: run-as UID GID /PROGRAM [ARG...] (UID and GID not 0)\n");
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
  execv(argv[3], argv + 3);
  fprintf(stderr, "run-as: exec %s: %s\n", argv[3], strerror(errno));
  return 127;
}
