/*
 * The security tests' probe: a static program run inside containers (kiln's and docker's) that
 * tries what a hostile process would and prints what the kernel answered, one result per line
 * ("ok" or the errno's name). The test set-up builds it with `gcc -static`.
 *
 *   probe open PATH [r|w]     open a file (a device node) for reading or writing
 *   probe syscalls            each system call of the seccomp table below, with arguments whose
 *                             ordinary error is not EPERM, so EPERM/ENOSYS shows the filter
 *   probe memscan PID TXET    search the readable memory of PID (/proc/PID/mem) for TEXT (given reversed)
 *   probe getfd PID MAX       pidfd_getfd of descriptors 0..MAX of PID; where each leads
 *   probe stdout              where descriptor 1 leads, and what reading it back through /proc gives
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *result(long r) { return r < 0 ? strerrorname_np(errno) : "ok"; }

static int cmdOpen(const char *path, const char *mode) {
  int fd = open(path, mode && mode[0] == 'w' ? O_WRONLY : O_RDONLY);
  printf("%s\n", fd < 0 ? strerrorname_np(errno) : "ok");
  return 0;
}

/* An i386 system call from this 64-bit process (seccomp sees AUDIT_ARCH_I386). */
static long i386Call(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
  return ret;
}

/* Some kernels (and hypervisors) refuse int 0x80 with a fault: ask in a child first. */
static int i386Available(void) {
  pid_t pid = fork();
  if (pid == 0) { i386Call(20, 0, 0, 0); _exit(0); }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define X32_BIT 0x40000000L
#define PROBE(name, call) printf("%s %s\n", name, result(call))

static int cmdSyscalls(void) {
  char nowhere[] = "/nonexistent-kiln-probe";
  /* Namespaces, mounts, keys, kernel state: refused without the capability docker ties them to. */
  PROBE("unshare", syscall(SYS_unshare, CLONE_NEWUSER | 0x1 /* an exit-signal bit: EINVAL */));
  PROBE("setns", syscall(SYS_setns, -1, 0));
  PROBE("mount", syscall(SYS_mount, "none", nowhere, "tmpfs", 0, NULL));
  PROBE("umount2", syscall(SYS_umount2, nowhere, 0));
  PROBE("pivot_root", syscall(SYS_pivot_root, nowhere, nowhere));
  PROBE("open_tree", syscall(SYS_open_tree, -1, nowhere, 0));
  PROBE("fsopen", syscall(SYS_fsopen, "no-such-fs-kiln", 0));
  PROBE("keyctl", syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0));
  PROBE("add_key", syscall(SYS_add_key, "user", "kiln", NULL, 0, 0x7fffffff));
  PROBE("request_key", syscall(SYS_request_key, "user", "kiln-missing", NULL, 0));
  PROBE("bpf", syscall(SYS_bpf, 0x7fff, NULL, 0));
  PROBE("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  PROBE("userfaultfd", syscall(SYS_userfaultfd, 0x7fffffff));
  PROBE("fanotify_init", syscall(SYS_fanotify_init, 0x7fffffff, 0));
  PROBE("quotactl", syscall(SYS_quotactl, 0, nowhere, 0, NULL));
  PROBE("move_pages", syscall(SYS_move_pages, 0, 1, NULL, NULL, NULL, 0x7fffffff));
  PROBE("migrate_pages", syscall(SYS_migrate_pages, -1, 0, NULL, NULL));
  /* io_uring: refused by current docker (v25+); docker 20.10 lets it through. */
  PROBE("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL));
  PROBE("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
  PROBE("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
  /* Memory policy: needs CAP_SYS_NICE under docker's profile. */
  PROBE("set_mempolicy", syscall(SYS_set_mempolicy, 0x7fff, NULL, 0));
  PROBE("get_mempolicy", syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0x7fff));
  PROBE("mbind", syscall(SYS_mbind, NULL, 0, 0x7fff, NULL, 0, 0));
  /* Tracing another process: pidfd_getfd and kcmp need CAP_SYS_PTRACE. */
  PROBE("pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0));
  PROBE("kcmp", syscall(SYS_kcmp, getpid(), getpid(), 0x7fff, 0, 0));
  PROBE("process_madvise", syscall(SYS_process_madvise, -1, NULL, 0, 0, 0));
  /* Clocks, I/O ports, modules, accounting. */
  PROBE("clock_settime", syscall(SYS_clock_settime, -1, NULL));
  PROBE("iopl", syscall(SYS_iopl, 4));
  PROBE("ioperm", syscall(SYS_ioperm, 0, 0x7fffffff, 1));
  PROBE("finit_module", syscall(SYS_finit_module, -1, "", 0x7fffffff));
  PROBE("acct", syscall(SYS_acct, nowhere));
  PROBE("setdomainname", syscall(SYS_setdomainname, NULL, -1));
  PROBE("sethostname", syscall(SYS_sethostname, NULL, -1));
  /* Argument filters. */
  PROBE("personality(ADDR_NO_RANDOMIZE)", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
  PROBE("personality(query)", syscall(SYS_personality, 0xffffffffUL));
  PROBE("socket(AF_VSOCK)", syscall(SYS_socket, 40, 0x7fff, 0));
  PROBE("socket(AF_ALG)", syscall(SYS_socket, 38, 0x7fff, 0));
  PROBE("socket(AF_UNIX)", syscall(SYS_socket, AF_UNIX, 0x7fff, 0));
  PROBE("clone(CLONE_NEWNS)", syscall(SYS_clone, CLONE_NEWNS | CLONE_THREAD /* without CLONE_SIGHAND: EINVAL */, NULL, NULL, NULL, 0));
  PROBE("clone3", syscall(SYS_clone3, NULL, 0));
  /* Beyond every table: ENOSYS, so C libraries fall back. */
  PROBE("syscall(1023)", syscall(1023, 0, 0, 0));
  /* The other ABIs of an x86_64 host: i386 (int 0x80) and x32 (number | 0x40000000). */
  if (i386Available()) {
    PROBE("i386 getpid", i386Call(20, 0, 0, 0));
    PROBE("i386 unshare", i386Call(310, CLONE_NEWUSER | 0x1, 0, 0));
    PROBE("i386 keyctl", i386Call(288, 0x7fff, 0, 0));
    PROBE("i386 personality(ADDR_NO_RANDOMIZE)", i386Call(136, ADDR_NO_RANDOMIZE, 0, 0));
    PROBE("i386 io_uring_setup", i386Call(425, 0, 0, 0));
  } else {
    printf("i386 unavailable\n");
  }
  PROBE("x32 getpid", syscall(X32_BIT | 39));
  PROBE("x32 keyctl", syscall(X32_BIT | 250, 0x7fff, 0, 0, 0, 0));
  return 0;
}

/* TEXT comes reversed, so the searched bytes are nowhere in the container but where they leaked. */
static int cmdMemscan(const char *pid, const char *reversed) {
  size_t n = strlen(reversed);
  char *text = malloc(n + 1);
  for (size_t i = 0; i < n; i++) text[i] = reversed[n - 1 - i];
  text[n] = 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/maps", pid);
  FILE *maps = fopen(path, "r");
  if (!maps) { printf("maps %s\n", strerrorname_np(errno)); return 0; }
  snprintf(path, sizeof path, "/proc/%s/mem", pid);
  int mem = open(path, O_RDONLY);
  if (mem < 0) { printf("mem %s\n", strerrorname_np(errno)); fclose(maps); return 0; }
  size_t len = strlen(text);
  char line[512];
  long scanned = 0;
  const char *err = NULL;
  while (fgets(line, sizeof line, maps)) {
    unsigned long start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || perms[0] != 'r') continue;
    for (unsigned long at = start; at < end; at += 1 << 20) {
      size_t n = end - at < (1UL << 20) ? end - at : (1UL << 20);
      char *buf = malloc(n + len);
      ssize_t got = pread(mem, buf, n, (off_t)at);
      if (got < 0) { err = strerrorname_np(errno); free(buf); break; }
      scanned += got;
      if (memmem(buf, (size_t)got, text, len)) { printf("found\n"); return 0; }
      free(buf);
    }
  }
  if (scanned == 0 && err) printf("mem %s\n", err);
  else printf("absent (%ld bytes read)\n", scanned);
  return 0;
}

static int cmdGetfd(const char *pid, const char *max) {
  int pidfd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
  if (pidfd < 0) { printf("pidfd_open %s\n", strerrorname_np(errno)); return 0; }
  for (int fd = 0; fd <= atoi(max); fd++) {
    int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (got < 0) {
      if (errno == EBADF) continue;
      printf("pidfd_getfd %s\n", strerrorname_np(errno));
      return 0;
    }
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", got);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    printf("%d %s\n", fd, target);
    close(got);
  }
  return 0;
}

/* Reopens descriptor 1 through /proc and reads from it what is there. */
static int cmdStdout(void) {
  char target[PATH_MAX];
  ssize_t n = readlink("/proc/self/fd/1", target, sizeof target - 1);
  target[n < 0 ? 0 : n] = 0;
  int fd = open("/proc/self/fd/1", O_RDONLY | O_NONBLOCK);
  char buf[256];
  ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  const char *what = fd < 0 ? strerrorname_np(errno) : got < 0 ? strerrorname_np(errno) : got == 0 ? "empty" : "data";
  dprintf(2, "fd1 %s reopen-read %s\n", target, what);
  if (got > 0) { buf[got] = 0; dprintf(2, "read: %s\n", buf); }
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 3 && strcmp(argv[1], "open") == 0) return cmdOpen(argv[2], argc > 3 ? argv[3] : "r");
  if (argc >= 2 && strcmp(argv[1], "syscalls") == 0) return cmdSyscalls();
  if (argc >= 4 && strcmp(argv[1], "memscan") == 0) return cmdMemscan(argv[2], argv[3]);
  if (argc >= 4 && strcmp(argv[1], "getfd") == 0) return cmdGetfd(argv[2], argv[3]);
  if (argc >= 2 && strcmp(argv[1], "stdout") == 0) return cmdStdout();
  fprintf(stderr, "usage: probe open PATH [r|w] | syscalls | memscan PID TXET | getfd PID MAX | stdout\n");
  return 2;
}
