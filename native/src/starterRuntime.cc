// kiln-start's own runtime: its entry point and the few C library functions its code calls, each
// one system call (or a few lines of string code), so that it starts without a C library.
//
// Why: kiln-start runs once per container, on the path from one RUN step's exit to the next
// one's command. A static glibc program spends about a millisecond starting on the VMs kiln
// runs on (thread-local storage and IRELATIVE set-up, CPU feature probes through cpuid, which
// traps to the hypervisor, tunables, two dozen page faults); kiln-start needs none of it. Its
// code (child.cc) was already written for a child that may not use libc's locks or malloc: only
// system calls and hand-written string code, raw syscall() for the id changes.
//
// x86-64 only (the entry point and the system call are assembly); elsewhere kiln-start links
// against libc as before (binding.gyp). The program is single-threaded, so errno is a plain
// global; memory is never given back (the program ends in execve or _exit within milliseconds).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <new>

#if !defined(__x86_64__)
#error "starterRuntime.cc is x86-64 only; binding.gyp links kiln-start against libc elsewhere"
#endif

int main(int argc, char** argv);

namespace {

int errnoValue;

inline long sys(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0) {
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

// libc's convention: -1 and errno for a failure, the result otherwise.
inline long ret(long r) {
  if (r < 0 && r > -4096) {
    errnoValue = (int)-r;
    return -1;
  }
  return r;
}

inline long call(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0) {
  return ret(sys(n, a1, a2, a3, a4, a5, a6));
}

[[noreturn]] void exitGroup(int code) {
  for (;;) sys(SYS_exit_group, code);
}

[[noreturn]] void die(const char* what) {
  static const char prefix[] = "kiln-start: ";
  sys(SYS_write, 2, (long)prefix, sizeof(prefix) - 1);
  sys(SYS_write, 2, (long)what, (long)strlen(what));
  sys(SYS_write, 2, (long)"\n", 1);
  exitGroup(125);
}

// ---- memory: a bump allocator over anonymous mappings; nothing is given back ---------------
constexpr size_t kChunk = 256 * 1024;
char* chunkNext;
char* chunkEnd;

void* allocate(size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  if (size > (size_t)(chunkEnd - chunkNext)) {
    size_t want = size > kChunk / 4 ? (size + 4095) & ~(size_t)4095 : kChunk;
    long p = sys(SYS_mmap, 0, (long)want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096) die("out of memory");
    if (want != kChunk) return (void*)p;  // a big block of its own; the current chunk stays
    chunkNext = (char*)p;
    chunkEnd = chunkNext + want;
  }
  void* out = chunkNext;
  chunkNext += size;
  return out;
}

using InitFn = void (*)(int, char**, char**);

}  // namespace

extern "C" {

// The linker's bounds of the constructors table of a static program.
extern InitFn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern InitFn __init_array_end[] __attribute__((weak, visibility("hidden")));

[[noreturn]] __attribute__((used)) void kilnStartMain(long* sp) {
  int argc = (int)sp[0];
  char** argv = (char**)(sp + 1);
  char** envp = argv + argc + 1;
  for (InitFn* f = __init_array_start; f < __init_array_end; f++) (*f)(argc, argv, envp);
  exitGroup(main(argc, argv));
}

// The kernel enters with the stack pointer at argc; the ABI wants it 16-byte aligned at a call.
__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start,@function\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call kilnStartMain\n"
    "  hlt\n");

int* __errno_location() noexcept { return &errnoValue; }

void* __dso_handle = &__dso_handle;
// Destructors of statics never run: the program ends in execve() or _exit().
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
int __cxa_guard_acquire(uint64_t* guard) { return *(char*)guard == 0; }
void __cxa_guard_release(uint64_t* guard) { *(char*)guard = 1; }
void __cxa_guard_abort(uint64_t*) {}

// ---- string and memory functions -------------------------------------------------------------
void* memcpy(void* dst, const void* src, size_t n) {
  void* d = dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  if ((uintptr_t)dst - (uintptr_t)src >= n) return memcpy(dst, src, n);  // no harmful overlap
  char* d = (char*)dst + n - 1;
  const char* s = (const char*)src + n - 1;
  __asm__ volatile("std\n rep movsb\n cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char* x = (const unsigned char*)a;
  const unsigned char* y = (const unsigned char*)b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  const char* p = s;
  while (*p) p++;
  return (size_t)(p - s);
}

// string.h declares C++ overloads of these two; the definitions take the C symbols' names.
char* strchrC(const char* s, int c) __asm__("strchr");
char* strrchrC(const char* s, int c) __asm__("strrchr");

char* strchrC(const char* s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char*)s;
    if (!*s) return nullptr;
  }
}

char* strrchrC(const char* s, int c) {
  const char* found = nullptr;
  for (;; s++) {
    if (*s == (char)c) found = s;
    if (!*s) return (char*)found;
  }
}

char* strncpy(char* dst, const char* src, size_t n) {
  size_t i = 0;
  for (; i < n && src[i]; i++) dst[i] = src[i];
  for (; i < n; i++) dst[i] = 0;
  return dst;
}

long strtol(const char* s, char** end, int base) {
  const char* p = s;
  while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
  bool neg = false;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    base = 16;
  } else if (base == 0) {
    base = p[0] == '0' ? 8 : 10;
  }
  unsigned long v = 0;
  const unsigned long limit = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
  bool overflow = false;
  const char* digits = p;
  for (;; p++) {
    int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : *p >= 'A' && *p <= 'Z' ? *p - 'A' + 10 : 99;
    if (d >= base) break;
    if (v > (limit - (unsigned long)d) / (unsigned long)base) overflow = true;
    else v = v * (unsigned long)base + (unsigned long)d;
  }
  if (end) *end = (char*)(p == digits ? s : p);
  if (overflow) {
    errnoValue = ERANGE;
    return neg ? LONG_MIN : LONG_MAX;
  }
  return neg ? (long)(0 - v) : (long)v;
}

// ---- system calls ----------------------------------------------------------------------------
void _exit(int code) { exitGroup(code); }
ssize_t read(int fd, void* buf, size_t n) { return call(SYS_read, fd, (long)buf, (long)n); }
ssize_t write(int fd, const void* buf, size_t n) { return call(SYS_write, fd, (long)buf, (long)n); }
ssize_t pread64(int fd, void* buf, size_t n, off64_t off) { return call(SYS_pread64, fd, (long)buf, (long)n, off); }
int close(int fd) { return (int)call(SYS_close, fd); }
int dup2(int from, int to) { return (int)call(SYS_dup2, from, to); }
int access(const char* path, int mode) { return (int)call(SYS_access, (long)path, mode); }
int chdir(const char* path) { return (int)call(SYS_chdir, (long)path); }
int fchdir(int fd) { return (int)call(SYS_fchdir, fd); }
int chroot(const char* path) { return (int)call(SYS_chroot, (long)path); }
int mkdir(const char* path, mode_t mode) { return (int)call(SYS_mkdir, (long)path, mode); }
int mkdirat(int dir, const char* path, mode_t mode) { return (int)call(SYS_mkdirat, dir, (long)path, mode); }
int fchown(int fd, uid_t uid, gid_t gid) { return (int)call(SYS_fchown, fd, uid, gid); }
int fchownat(int dir, const char* path, uid_t uid, gid_t gid, int flags) {
  return (int)call(SYS_fchownat, dir, (long)path, uid, gid, flags);
}
int fchmodat(int dir, const char* path, mode_t mode, int flags) {
  if (flags != 0) {  // the kernel's fchmodat has no flags; libc emulates them, kiln-start never asks
    errnoValue = EINVAL;
    return -1;
  }
  return (int)call(SYS_fchmodat, dir, (long)path, mode);
}
int mknodat(int dir, const char* path, mode_t mode, dev_t dev) {
  if (dev != (dev_t)(unsigned int)dev) {
    errnoValue = EOVERFLOW;
    return -1;
  }
  return (int)call(SYS_mknodat, dir, (long)path, mode, (long)(unsigned int)dev);
}
int symlinkat(const char* target, int dir, const char* path) { return (int)call(SYS_symlinkat, (long)target, dir, (long)path); }
int unlinkat(int dir, const char* path, int flags) { return (int)call(SYS_unlinkat, dir, (long)path, flags); }
int stat64(const char* path, struct stat64* st) { return (int)call(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0); }
int fstat64(int fd, struct stat64* st) { return (int)call(SYS_fstat, fd, (long)st); }
int fstatfs64(int fd, struct statfs64* st) { return (int)call(SYS_fstatfs, fd, (long)st); }
mode_t umask(mode_t mask) { return (mode_t)sys(SYS_umask, mask); }
int execve(const char* path, char* const argv[], char* const envp[]) {
  return (int)call(SYS_execve, (long)path, (long)argv, (long)envp);
}
int mount(const char* source, const char* target, const char* type, unsigned long flags, const void* data) {
  return (int)call(SYS_mount, (long)source, (long)target, (long)type, (long)flags, (long)data);
}
int umount2(const char* target, int flags) { return (int)call(SYS_umount2, (long)target, flags); }
int sethostname(const char* name, size_t len) { return (int)call(SYS_sethostname, (long)name, (long)len); }
int setns(int fd, int type) { return (int)call(SYS_setns, fd, type); }
int unshare(int flags) { return (int)call(SYS_unshare, flags); }
pid_t setsid() { return (pid_t)call(SYS_setsid); }
int setrlimit64(__rlimit_resource_t resource, const struct rlimit64* limit) {
  return (int)call(SYS_prlimit64, 0, resource, (long)limit, 0);
}
int socket(int domain, int type, int protocol) { return (int)call(SYS_socket, domain, type, protocol); }
ssize_t recv(int fd, void* buf, size_t n, int flags) { return call(SYS_recvfrom, fd, (long)buf, (long)n, flags, 0, 0); }
ssize_t sendto(int fd, const void* buf, size_t n, int flags, const struct sockaddr* to, socklen_t len) {
  return call(SYS_sendto, fd, (long)buf, (long)n, flags, (long)to, len);
}
ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) { return call(SYS_sendmsg, fd, (long)msg, flags); }

int openat64(int dir, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {  // only then is there a mode argument
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  return (int)call(SYS_openat, dir, (long)path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  return openat64(AT_FDCWD, path, flags, mode);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return (int)call(SYS_fcntl, fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  long arg = va_arg(ap, long);
  va_end(ap);
  return (int)call(SYS_ioctl, fd, (long)request, arg);
}

int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  long a2 = va_arg(ap, long), a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
  va_end(ap);
  return (int)call(SYS_prctl, option, a2, a3, a4, a5);
}

long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
  long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  return call(number, a1, a2, a3, a4, a5, a6);
}

int sigemptyset(sigset_t* set) {
  memset(set, 0, sizeof(*set));
  return 0;
}

// The kernel's sigset is 64 bits; libc's sigset_t is larger and begins with it.
int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return (int)call(SYS_rt_sigprocmask, how, (long)set, (long)old, 8);
}

// Only SIG_DFL and SIG_IGN: a handler would need a signal-return trampoline kiln-start lacks.
sighandler_t signal(int sig, sighandler_t handler) {
  if (handler != SIG_DFL && handler != SIG_IGN) {
    errnoValue = EINVAL;
    return SIG_ERR;
  }
  struct {
    sighandler_t handler;
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
  } act = {handler, 0, nullptr, 0}, old = {};
  if (call(SYS_rt_sigaction, sig, (long)&act, (long)&old, 8) < 0) return SIG_ERR;
  return old.handler;
}

}  // extern "C"

// ---- what the C++ library would provide ------------------------------------------------------
void* operator new(size_t size) { return allocate(size); }
void* operator new[](size_t size) { return allocate(size); }
void operator delete(void*) noexcept {}
void operator delete(void*, size_t) noexcept {}
void operator delete[](void*) noexcept {}
void operator delete[](void*, size_t) noexcept {}

namespace std {
[[noreturn]] void __throw_length_error(const char*) { die("a string or list is too long"); }
[[noreturn]] void __throw_logic_error(const char*) { die("logic error"); }
[[noreturn]] void __throw_bad_alloc() { die("out of memory"); }
[[noreturn]] void __throw_bad_array_new_length() { die("out of memory"); }
[[noreturn]] void __throw_out_of_range_fmt(const char*, ...) { die("index out of range"); }
}  // namespace std
