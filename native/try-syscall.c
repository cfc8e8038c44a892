/*
 * try-syscall NAME: makes one named system call with arguments chosen so that, when no filter is
 * in the way, the kernel answers with success or a non-EPERM error; prints "NAME ok" or
 * "NAME ERRNO-NAME" and exits with the errno (0 on success). A filter with action "kill" ends it
 * with SIGSYS instead. Used by the test suite inside real sandboxes; never run by the daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static long try_clone_newuser(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}

static long try_int80(void) {
  long ret;
  /* getpid through the i386 entry point (syscall 20 there). */
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
  if (ret < 0) {
    errno = (int)-ret;
    return -1;
  }
  return 0;
}

/* A file of the probe's own in /tmp, made without special bits, for the mode probes. */
static const char *own_file(void) {
  int fd = open("/tmp/try-syscall", O_CREAT | O_WRONLY, 0755);
  if (fd >= 0) close(fd);
  return "/tmp/try-syscall";
}

struct open_how_probe {
  unsigned long long flags, mode, resolve;
};

static long run(const char *name) {
  char byte = 'x';
  if (!strcmp(name, "ptrace")) return syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
  if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
  if (!strcmp(name, "add_key")) return syscall(SYS_add_key, "user", "tc", "x", 1, -3);
  if (!strcmp(name, "bpf")) return syscall(SYS_bpf, -1, NULL, 0);
  if (!strcmp(name, "userfaultfd")) return syscall(SYS_userfaultfd, -1);
  if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, NULL);
  if (!strcmp(name, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
  if (!strcmp(name, "process_vm_readv")) return syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0);
  if (!strcmp(name, "kcmp")) return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0);
  if (!strcmp(name, "unshare-user")) return syscall(SYS_unshare, CLONE_NEWUSER);
  if (!strcmp(name, "setns")) return syscall(SYS_setns, -1, 0);
  if (!strcmp(name, "clone-newuser")) return try_clone_newuser();
  if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
  if (!strcmp(name, "socket-netlink")) return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
  if (!strcmp(name, "socket-vsock")) return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
  if (!strcmp(name, "socket-packet")) return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
  if (!strcmp(name, "socket-inet")) return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  if (!strcmp(name, "socket-unix")) return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
  if (!strcmp(name, "ioctl-tiocsti")) return syscall(SYS_ioctl, 0, TIOCSTI, &byte);
  if (!strcmp(name, "ioctl-tioclinux")) return syscall(SYS_ioctl, 0, TIOCLINUX, &byte);
  if (!strcmp(name, "personality-bsd")) return syscall(SYS_personality, 6 /* PER_BSD */);
  if (!strcmp(name, "personality-norandom")) return syscall(SYS_personality, ADDR_NO_RANDOMIZE);
  if (!strcmp(name, "personality-query")) return syscall(SYS_personality, 0xffffffff) < 0 ? -1 : 0;
  if (!strcmp(name, "personality-linux")) return syscall(SYS_personality, 0) < 0 ? -1 : 0;
  if (!strcmp(name, "mount")) return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
  if (!strcmp(name, "umount2")) return syscall(SYS_umount2, "/tmp", 0);
  if (!strcmp(name, "init_module")) return syscall(SYS_init_module, NULL, 0, "");
  if (!strcmp(name, "reboot")) return syscall(SYS_reboot, 0, 0, 0, NULL);
  if (!strcmp(name, "swapon")) return syscall(SYS_swapon, "/nonexistent", 0);
  if (!strcmp(name, "settimeofday")) return syscall(SYS_settimeofday, NULL, NULL);
  if (!strcmp(name, "syslog")) return syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0);
  if (!strcmp(name, "acct")) return syscall(SYS_acct, NULL);
  if (!strcmp(name, "name_to_handle_at")) return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0);
  if (!strcmp(name, "modify_ldt")) return syscall(SYS_modify_ldt, 0, NULL, 0);
  if (!strcmp(name, "iopl")) return syscall(SYS_iopl, 0);
  if (!strcmp(name, "int80")) return try_int80();
  if (!strcmp(name, "x32-getpid")) return syscall(0x40000000 | SYS_getpid);
  if (!strcmp(name, "getpid")) return syscall(SYS_getpid) > 0 ? 0 : -1;
  /* DCCP (33): no module for it since Linux 6.16, so even without the filter nothing is loaded. */
  if (!strcmp(name, "socket-dccp")) return syscall(SYS_socket, AF_INET, 6 /* SOCK_DCCP */, 33);
  if (!strcmp(name, "socket-dccp-high-bits")) return syscall(SYS_socket, AF_INET, 6, (1L << 32) | 33);
  if (!strcmp(name, "socket-udp")) return syscall(SYS_socket, AF_INET, SOCK_DGRAM, 17);
  if (!strcmp(name, "ioctl-tiocsetd")) {
    int ldisc = 0; /* N_TTY: loads nothing even without the filter */
    return syscall(SYS_ioctl, 0, TIOCSETD, &ldisc);
  }
  if (!strcmp(name, "chmod-setuid")) return syscall(SYS_chmod, own_file(), 04755);
  if (!strcmp(name, "chmod-setgid")) return syscall(SYS_chmod, own_file(), 02755);
  if (!strcmp(name, "chmod-plain")) return syscall(SYS_chmod, own_file(), 0644);
  if (!strcmp(name, "fchmodat2-setuid")) return syscall(452 /* fchmodat2 */, AT_FDCWD, own_file(), 04755, 0);
  if (!strcmp(name, "open-setuid")) return syscall(SYS_open, "/tmp/try-syscall-new", O_CREAT | O_WRONLY, 04755);
  if (!strcmp(name, "mknod-setuid")) return syscall(SYS_mknod, "/tmp/try-syscall-node", S_IFREG | 04755, 0);
  if (!strcmp(name, "openat2")) {
    struct open_how_probe how = {O_RDONLY, 0, 0};
    return syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
  }
  fprintf(stderr, "try-syscall: unknown probe %s\n", name);
  _exit(255);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: try-syscall NAME\n");
    return 255;
  }
  errno = 0;
  long ret = run(argv[1]);
  if (ret >= 0) {
    printf("%s ok\n", argv[1]);
    return 0;
  }
  int err = errno;
  printf("%s %s\n", argv[1], strerrorname_np(err) ? strerrorname_np(err) : "?");
  return err & 0xff;
}
