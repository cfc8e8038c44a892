/*
 * probe: maps the blast radius of a sandbox from inside it (`toolcell probe TOOL`). It runs in the
 * tool's real sandbox, as the tool's user, in place of the tool's program, and prints one finding
 * per line (tab-separated) for the daemon to judge:
 *
 *   path    PATH  readable|listable|writable|absent|denied ERRNO   a host path named by the daemon
 *   secret  PATH  KIND                                              a sensitive file it can read
 *   write   DIR                                                     a directory it can write
 *   procs   N                                                       processes it can see
 *   sockets N                                                       unix sockets it can see
 *   env     NAME                                                    an environment variable
 *   connect HOST PORT ok|errno N|timeout                            a TCP connection attempt
 *   syscall NAME ok|errno N                                         a dangerous system call
 *
 * Usage: probe [--path P]... [--walk DIR]... [--connect HOST:PORT]...
 * Built static, so it runs whatever a profile binds. It changes nothing: writability is asked with
 * access(2), and the system calls are made so that success would do no harm.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_WALK_ENTRIES 50000
#define MAX_DEPTH 12
static long walked;

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether the first 4 KiB of a file hold a private key block. */
static int holds_private_key(const char *path) {
  char buf[4097];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  return strstr(buf, "PRIVATE KEY-----") != NULL;
}

/* The kind of sensitive file `name` is, or NULL. */
static const char *sensitive(const char *path, const char *name) {
  static const char *exact[][2] = {
      {"id_rsa", "ssh private key"}, {"id_dsa", "ssh private key"}, {"id_ecdsa", "ssh private key"},
      {"id_ed25519", "ssh private key"}, {"shadow", "password hashes"}, {"gshadow", "password hashes"},
      {".netrc", "credentials"}, {".git-credentials", "credentials"}, {".pgpass", "credentials"},
      {"credentials", "credentials"}, {".npmrc", "token file"}, {".pypirc", "token file"},
  };
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
    if (strcmp(name, exact[i][0]) == 0) return exact[i][1];
  if (strcmp(name, ".env") == 0 || strncmp(name, ".env.", 5) == 0) return "environment file";
  if ((ends_with(name, ".key") || ends_with(name, ".pem")) && holds_private_key(path)) return "private key";
  return NULL;
}

/*
 * A walk cut short by its bounds says where: a tool that fills or deepens its writable path must
 * not be able to hide a key behind the bound and get a clean report.
 */
/* Whether the walk has used up its entries; said once, where it stopped. */
static int entries_used_up(const char *dir) {
  static int said;
  if (walked < MAX_WALK_ENTRIES) return 0;
  if (!said++) printf("incomplete\t%s\tmore than %d entries in all\n", dir, MAX_WALK_ENTRIES);
  return 1;
}

static void walk(const char *dir, int depth) {
  if (depth > MAX_DEPTH) {
    printf("incomplete\t%s\tdeeper than %d levels\n", dir, MAX_DEPTH);
    return;
  }
  if (entries_used_up(dir)) return;
  if (access(dir, W_OK) == 0) printf("write\t%s\n", dir);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL && !entries_used_up(dir)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    walked++;
    snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      walk(path, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      const char *kind = sensitive(path, e->d_name);
      if (kind && access(path, R_OK) == 0) printf("secret\t%s\t%s\n", path, kind);
    }
  }
  closedir(d);
}

static void check_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) printf("path\t%s\tabsent\n", path);
    else printf("path\t%s\tdenied %d\n", path, errno);
    return;
  }
  const char *what = access(path, W_OK) == 0 ? "writable" : S_ISDIR(st.st_mode) ? (access(path, R_OK | X_OK) == 0 ? "listable" : "denied 13") : (access(path, R_OK) == 0 ? "readable" : "denied 13");
  printf("path\t%s\t%s\n", path, what);
}

static void count_entries(void) {
  long procs = 0, sockets = -1;
  DIR *d = opendir("/proc");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') procs++;
    closedir(d);
  }
  FILE *f = fopen("/proc/net/unix", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) sockets++;
    fclose(f);
  }
  printf("procs\t%ld\n", procs);
  printf("sockets\t%ld\n", sockets < 0 ? 0 : sockets);
}

static void try_connect(const char *spec) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || (size_t)(colon - spec) >= sizeof host) return;
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = 0;
  int port = atoi(colon + 1);
  char *h = host;
  if (h[0] == '[') {
    h++;
    h[strlen(h) - 1] = 0;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family;
  if (strchr(h, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, h, &a->sin6_addr) != 1) return;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, h, &a->sin_addr) != 1) return;
    len = sizeof *a;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    printf("connect\t%s\t%d\terrno %d\n", h, port, errno);
    return;
  }
  if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
    printf("connect\t%s\t%d\tok\n", h, port);
  } else if (errno != EINPROGRESS) {
    printf("connect\t%s\t%d\terrno %d\n", h, port, errno);
  } else {
    struct pollfd p = {fd, POLLOUT, 0};
    int r = poll(&p, 1, 2000);
    int err = 0;
    socklen_t el = sizeof err;
    if (r == 0) printf("connect\t%s\t%d\ttimeout\n", h, port);
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) printf("connect\t%s\t%d\tok\n", h, port);
    else printf("connect\t%s\t%d\terrno %d\n", h, port, err);
  }
  close(fd);
}

static void report(const char *name, long rc) {
  if (rc >= 0) printf("syscall\t%s\tok\n", name);
  else printf("syscall\t%s\terrno %d\n", name, errno);
}

/*
 * Each call is one an escape starts with. Each runs in a child of its own, so that one that
 * succeeds (a new user namespace brings capabilities with it) cannot colour the next; the mount
 * is tried only inside a mount namespace of its own, where it cannot change anything else.
 */
static void in_child(const char *name, long (*call)(void)) {
  pid_t pid = fork();
  if (pid == 0) {
    report(name, call());
    fflush(stdout);
    _exit(0);
  }
  if (pid > 0) {
    int status;
    waitpid(pid, &status, 0);
  }
}

static long call_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long call_mount(void) {
  if (unshare(CLONE_NEWNS) != 0) return -1;
  return mount("none", "/tmp", "tmpfs", 0, NULL);
}
static long call_ptrace(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static long call_setns(void) {
  int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long rc = setns(fd, 0);
  close(fd);
  return rc;
}

static void try_syscalls(void) {
  in_child("unshare(CLONE_NEWUSER)", call_unshare_user);
  in_child("unshare(CLONE_NEWNS)+mount", call_mount);
  in_child("setns(/proc/1/ns/mnt)", call_setns);
  in_child("ptrace(PTRACE_TRACEME)", call_ptrace);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  report("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.size = sizeof pe;
  pe.type = PERF_TYPE_SOFTWARE;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  long pfd = syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
  report("perf_event_open", pfd);
  if (pfd >= 0) close((int)pfd);
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  long ufd = syscall(SYS_userfaultfd, 0);
  report("userfaultfd", ufd);
  if (ufd >= 0) close((int)ufd);
  char params[120];
  memset(params, 0, sizeof params);
  long ring = syscall(425 /* io_uring_setup */, 1, params);
  report("io_uring_setup", ring);
  if (ring >= 0) close((int)ring);
  report("socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
  report("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
}

/* Only as the pid 1 of a pid namespace, as toolcell runs it (bwrap --as-pid-1): never on a host
 * by accident, where pid 1 is the host's init. */
static int in_sandbox(void) { return getpid() == 1; }

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!in_sandbox()) {
    fprintf(stderr, "probe: runs only inside a toolcell sandbox (use toolcell probe TOOL)\n");
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], "--path") == 0) check_path(argv[i + 1]);
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], "--walk") == 0) walk(argv[i + 1], 0);
  count_entries();
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    printf("env\t%.*s\n", eq ? (int)(eq - *e) : (int)strlen(*e), *e);
  }
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], "--connect") == 0) try_connect(argv[i + 1]);
  try_syscalls();
  return 0;
}
