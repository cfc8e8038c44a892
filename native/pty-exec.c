/*
 * pty-exec: runs PROGRAM on a new pseudo-terminal and copies what it writes to stdout.
 *
 * It runs INSIDE the sandbox, so the terminal belongs to the sandbox's own devpts instance (bwrap's
 * --dev): a tool that injects input with TIOCSTI reaches only its own terminal, never one outside.
 * The daemon keeps talking to bwrap over plain pipes, so the hold-before-exec ordering (--info-fd,
 * --block-fd) and secret delivery (--args) stay exactly as for every other tool. Built static so it
 * runs whatever libraries a profile binds. Usage: pty-exec -- PROGRAM [ARG...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, ssize_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, (size_t)len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= n;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) {
    fprintf(stderr, "usage: pty-exec -- PROGRAM [ARG...]\n");
    return 127;
  }
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    fprintf(stderr, "pty-exec: cannot open a pseudo-terminal: %s\n", strerror(errno));
    return 127;
  }
  const char *slave_name = ptsname(master);
  if (slave_name == NULL) {
    fprintf(stderr, "pty-exec: ptsname: %s\n", strerror(errno));
    return 127;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pty-exec: fork: %s\n", strerror(errno));
    return 127;
  }
  if (pid == 0) {
    /* A session of its own whose controlling terminal is the new pty. */
    if (setsid() < 0) _exit(127);
    int slave = open(slave_name, O_RDWR);
    if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) != 0) {
      fprintf(stderr, "pty-exec: cannot attach the terminal: %s\n", strerror(errno));
      _exit(127);
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(slave, TIOCSWINSZ, &ws);
    if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) _exit(127);
    if (slave > 2) close(slave);
    execv(argv[2], argv + 2);
    fprintf(stderr, "pty-exec: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n > 0) {
      if (write_all(1, buf, n) != 0) break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break; /* EIO: every process holding the terminal has closed it */
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}
