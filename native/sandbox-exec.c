/*
 * sandbox-exec: the program bwrap starts in every sandbox. It reads the tool's argv from stdin
 * (each argument followed by a NUL byte, until end of file), puts /dev/null on stdin and execs it.
 *
 * Why: the sandbox is built (namespaces, mounts, seccomp filter, cgroup, network) before the
 * call's arguments are known, so the daemon can keep fresh sandboxes ready ahead of demand and a
 * call only has to hand over its argv. The same path serves a sandbox built for the call itself,
 * so there is one way a tool starts. It runs after bwrap installed the seccomp filter and dropped
 * every capability, as the tool's uid; it adds nothing the tool could not do itself, and the tool
 * replaces it (same pid, the sandbox's pid 1; no descriptor of it left: stdin is /dev/null again).
 * Every descriptor from 3 up is closed first: bwrap passes on whatever it was not told to consume,
 * and the tool gets stdin, stdout and stderr only.
 *
 * Exit 127 with a "sandbox-exec: " line on stderr when the argv is malformed or exec fails; end of
 * file with no argv at all (a ready sandbox that is discarded) exits 0 quietly.
 * Built static so it runs whatever libraries a profile binds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Far above what the daemon sends (each argument is capped at 128 KiB, execve at ARG_MAX). */
#define MAX_INPUT (8u * 1024u * 1024u)

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "sandbox-exec: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 127;
}

/*
 * Closes every descriptor from 3 up; 0 on success. close_range first; where a profile's filter
 * refuses it, the descriptors /proc/self/fd lists (the sandbox always has its own /proc).
 */
static int close_from_3(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return 0;
#endif
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  int self = dirfd(dir);
  /* Collected first, closed after: closing while reading would change the listing under us. */
  int fds[1024];
  size_t n = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    int fd = atoi(e->d_name);
    if (fd < 3 || fd == self) continue;
    if (n == sizeof fds / sizeof *fds) {
      closedir(dir);
      return -1;
    }
    fds[n++] = fd;
  }
  closedir(dir);
  for (size_t i = 0; i < n; i++) close(fds[i]);
  return 0;
}

int main(void) {
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

  size_t argc = 0;
  for (size_t i = 0; i < len; i++) argc += buf[i] == '\0';
  char **argv = calloc(argc + 1, sizeof *argv);
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
  if (close_from_3() != 0) return fail("close inherited descriptors", strerror(errno));

  execvp(argv[0], argv);
  int e = errno;
  char what[256];
  snprintf(what, sizeof what, "exec %.200s", argv[0]);
  return fail(what, strerror(e));
}
