/*
 * sandbox-exec: the program bwrap starts in every sandbox. It reads the tool's argv from stdin
 * (each argument followed by a NUL byte, until end of file), puts /dev/null on stdin, the tool's
 * output pipes (descriptors 5 and 6) on stdout and stderr, and execs it. Usage:
 *   sandbox-exec [--watch]
 *
 * Why: the sandbox is built (namespaces, mounts, seccomp filter, cgroup, network) before the
 * call's arguments are known, so the daemon can keep fresh sandboxes ready ahead of demand and a
 * call only has to hand over its argv. The same path serves a sandbox built for the call itself,
 * so there is one way a tool starts. It runs after bwrap installed the seccomp filter and dropped
 * every capability, as the tool's uid; it adds nothing the tool could not do itself.
 *
 * --watch: it forks first, while the sandbox is still being built, and the child goes on as above.
 * The parent stays as the tool's parent: it closes its copies of the tool's pipes, waits for the
 * tool and writes "sandbox-exec: exit N" (N as bwrap reports a status: the exit code, or 128 plus
 * the signal) on its stderr, which is bwrap's, then exits with N. Why: bwrap's pid 1 holds bwrap's
 * stdout and stderr until it exits, and it exits only after the tool, so a tool's end reached the
 * daemon only once pid 1 and bwrap had gone, about 2 ms later on a slow host. With its output on
 * descriptors of its own and this report, the daemon answers as soon as the tool has exited and
 * its output has ended; pid 1 and bwrap end after, and the sandbox is killed at teardown in any
 * case. The tool could write such a line itself (through /proc/1/fd/2): it could only misreport
 * its own exit, which it chooses anyway. The watcher makes only the system calls that
 * src/plan/seccomp-policy.ts WATCHER_SYSCALLS lists, and the daemon passes --watch only when the
 * profile denies none of them; if the fork fails all the same (pids.max), it runs as without
 * --watch, and the daemon learns the exit from bwrap.
 *
 * Exit 127 with a "sandbox-exec: " line on the tool's stderr when the argv is malformed or exec
 * fails; end of file with no argv at all (a ready sandbox that is discarded) exits 0 quietly.
 * Built static so it runs whatever libraries a profile binds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Far above what the daemon sends (each argument is capped at 128 KiB, execve at ARG_MAX). */
#define MAX_INPUT (8u * 1024u * 1024u)
/* Where the daemon passes the tool's stdout and stderr pipes (src/plan/bwrap-command.ts TOOL_FDS). */
#define TOOL_STDOUT 5
#define TOOL_STDERR 6

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "sandbox-exec: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 127;
}

/* The tool's parent: waits for it and reports its status as bwrap would. */
static int watch(pid_t tool) {
  close(0);
  close(TOOL_STDOUT);
  close(TOOL_STDERR);
  int status;
  while (waitpid(tool, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  /* One write(2), no stdio (which takes writev): the syscalls the daemon checks the filter for. */
  char line[32];
  int n = snprintf(line, sizeof line, "sandbox-exec: exit %d\n", code);
  /* Unwritten (bwrap's stderr gone), the daemon learns the status from bwrap instead. */
  (void)!write(2, line, (size_t)n);
  return code;
}

int main(int argc, char **argv_in) {
  if (argc > 1 && strcmp(argv_in[1], "--watch") == 0) {
    /* Raw clone with SIGCHLD, as fork: the seccomp baseline checks clone's flags, and a profile
     * that denies fork(2) alone still lets the watcher start. */
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid > 0) return watch((pid_t)pid);
  }
  if (dup2(TOOL_STDOUT, 1) < 0 || dup2(TOOL_STDERR, 2) < 0) return fail("dup2 output", strerror(errno));
  close(TOOL_STDOUT);
  close(TOOL_STDERR);

  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return fail("out of memory", NULL);
  for (;;) {
    if (len == cap) {
      if (cap >= MAX_INPUT) return fail("argv too large", NULL);
      cap *= 2;
      char *grown = realloc(buf, cap);
      if (grown == NULL) return fail("out of memory", NULL);
      buf = grown;
    }
    ssize_t n = read(0, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("read argv", strerror(errno));
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  if (len == 0) return 0;
  if (buf[len - 1] != '\0') return fail("argv not NUL-terminated", NULL);

  size_t argc_tool = 0;
  for (size_t i = 0; i < len; i++) argc_tool += buf[i] == '\0';
  char **argv = calloc(argc_tool + 1, sizeof *argv);
  if (argv == NULL) return fail("out of memory", NULL);
  for (size_t i = 0, a = 0, start = 0; i < len; i++) {
    if (buf[i] == '\0') {
      argv[a++] = buf + start;
      start = i + 1;
    }
  }
  if (argv[0][0] == '\0') return fail("empty program name", NULL);

  /* The argv pipe must not reach the tool: it gets /dev/null, as a sandbox built without us did. */
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0) return fail("open /dev/null", strerror(errno));
  if (dup2(null, 0) < 0) return fail("dup2 /dev/null", strerror(errno));
  close(null);

  execvp(argv[0], argv);
  int e = errno;
  char what[256];
  snprintf(what, sizeof what, "exec %.200s", argv[0]);
  return fail(what, strerror(e));
}
