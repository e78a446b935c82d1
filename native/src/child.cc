// The container side of a start: runs in the child, in its new namespaces, and ends in execve().
// The child is either the starter (starter.cc, a small program of its own exec'd right after the
// clone) or, for a new user namespace and for `kiln exec`, a copy of kiln made by clone(). Only
// system calls and hand-written string code here (no malloc, no stdio, no locks): in the copy,
// any lock another of Node's threads held at clone() time stays held forever.
#include "childSpec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

namespace kiln {
namespace {

// ---- a bounded string builder on the stack -------------------------------------------------
struct Buf {
  char data[PATH_MAX + 512];
  size_t len = 0;
  Buf() { data[0] = 0; }
  Buf& add(const char* s) {
    while (s && *s && len + 1 < sizeof(data)) data[len++] = *s++;
    data[len] = 0;
    return *this;
  }
  Buf& add(long n) {
    char tmp[24];
    int i = 0;
    bool neg = n < 0;
    unsigned long v = neg ? (unsigned long)(-n) : (unsigned long)n;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v && i < 23);
    if (neg) tmp[i++] = '-';
    while (i > 0 && len + 1 < sizeof(data)) data[len++] = tmp[--i];
    data[len] = 0;
    return *this;
  }
};

const ChildSpec* S;
bool setgroupsAllowed = true;  // the parent's gate byte may deny it (single-id user namespace map)

// Reports a setup failure to the parent as "ERRNO<TAB>EXIT<TAB>message" and exits.
[[noreturn]] void fail(int err, int exitCode, const char* what, const char* path = nullptr) {
  Buf b;
  b.add((long)err).add("\t").add((long)exitCode).add("\t").add(what);
  if (path) b.add(" ").add(path);
  if (S->errorFd >= 0) {
    ssize_t r = write(S->errorFd, b.data, b.len);
    (void)r;
  }
  _exit(exitCode);
}

[[noreturn]] void failSetup(const char* what, const char* path = nullptr) { fail(errno, 125, what, path); }

int openat2In(int rootFd, const char* path, int flags, bool inRoot) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.resolve = inRoot ? RESOLVE_IN_ROOT : 0;
  return (int)syscall(SYS_openat2, rootFd, path, &how, sizeof(how));
}

void procFdPath(Buf& b, int fd) { b.add("/proc/self/fd/").add((long)fd); }

// Opens `path` (absolute, interpreted inside the root at rootFd, symlinks cannot escape),
// creating missing directories and, when createAs == 2, an empty final file.
int resolveInRoot(int rootFd, const char* path, int createAs) {
  int fd = openat2In(rootFd, path, O_PATH, true);
  if (fd >= 0 || errno != ENOENT || createAs == 0) return fd;
  Buf prefix;
  const char* p = path;
  int parentFd = openat2In(rootFd, "/", O_PATH | O_DIRECTORY, true);
  if (parentFd < 0) return -1;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char* end = p;
    while (*end && *end != '/') end++;
    char name[NAME_MAX + 1];
    size_t n = (size_t)(end - p);
    if (n > NAME_MAX) { close(parentFd); errno = ENAMETOOLONG; return -1; }
    memcpy(name, p, n);
    name[n] = 0;
    prefix.add("/").add(name);
    const char* rest = end;
    while (*rest == '/') rest++;
    bool last = *rest == 0;
    int next = openat2In(rootFd, prefix.data, O_PATH, true);
    if (next < 0 && errno == ENOENT) {
      if (last && createAs == 2) {
        int f = openat(parentFd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST) { close(parentFd); return -1; }
        if (f >= 0) close(f);
      } else if (mkdirat(parentFd, name, 0755) < 0 && errno != EEXIST) {
        close(parentFd);
        return -1;
      }
      next = openat2In(rootFd, prefix.data, O_PATH, true);
    }
    close(parentFd);
    if (next < 0) return -1;
    parentFd = next;
    p = end;
  }
  return parentFd;
}

unsigned long lockedFlags(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) return 0;
  unsigned long f = 0;
  if (sf.f_flags & ST_NOSUID) f |= MS_NOSUID;
  if (sf.f_flags & ST_NODEV) f |= MS_NODEV;
  if (sf.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
  if (sf.f_flags & ST_NOATIME) f |= MS_NOATIME;
  if (sf.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sf.f_flags & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Remounts the bind mount now sitting at `path` with `extra` flags (read-only when asked), keeping the flags a user namespace may
// not clear (nosuid, nodev, noexec, atime).
int remountBind(int rootFd, const char* path, bool inRoot, unsigned long extra) {
  int fd = openat2In(rootFd, path, O_PATH, inRoot);
  if (fd < 0) return -1;
  Buf target;
  procFdPath(target, fd);
  int r = mount(nullptr, target.data, nullptr, MS_REMOUNT | MS_BIND | lockedFlags(fd) | extra, nullptr);
  int saved = errno;
  close(fd);
  errno = saved;
  return r;
}

int doMount(int rootFd, const MountOp& m) {
  int fd = resolveInRoot(rootFd, m.target.c_str(), m.createAs);
  if (fd < 0) return -1;
  Buf target;
  procFdPath(target, fd);
  int r;
  if (m.remount) {
    r = mount(nullptr, target.data, nullptr, MS_REMOUNT | m.flags, m.data.empty() ? nullptr : m.data.c_str());
  } else if (m.bind) {
    r = mount(m.source.c_str(), target.data, nullptr, MS_BIND | (m.recursive ? MS_REC : 0), nullptr);
  } else {
    r = mount(m.source.c_str(), target.data, m.fstype.c_str(), m.flags, m.data.empty() ? nullptr : m.data.c_str());
  }
  int saved = errno;
  close(fd);
  if (r < 0) { errno = saved; return -1; }
  if (m.bind && (m.readonly || m.flags)) {
    if (remountBind(rootFd, m.target.c_str(), true, m.flags | (m.readonly ? MS_RDONLY : 0)) < 0) return -1;
  }
  return 0;
}

void setupMounts(int rootFd) {
  for (size_t i = 0; i < S->mounts.size(); i++) {
    const MountOp& m = S->mounts[i];
    if (m.isFallback) continue;
    if (doMount(rootFd, m) == 0) continue;
    if ((errno == EPERM || errno == EACCES) && m.fallback >= 0) {
      const MountOp& fb = S->mounts[(size_t)m.fallback];
      if (doMount(rootFd, fb) == 0) continue;
    }
    Buf what;
    what.add("mount ").add(m.bind ? m.source.c_str() : m.fstype.c_str()).add(" on");
    failSetup(what.data, m.target.c_str());
  }
}

void splitParent(const char* path, Buf& parent, const char*& name) {
  const char* slash = strrchr(path, '/');
  name = slash ? slash + 1 : path;
  parent.add("/");
  if (slash && slash != path) {
    size_t n = (size_t)(slash - path);
    for (size_t i = 0; i < n && parent.len + 1 < sizeof(parent.data); i++) parent.data[parent.len++] = path[i];
    parent.data[parent.len] = 0;
  }
}

// The parent directory of `path` inside the root, created if missing, as a real directory fd
// (mknodat and symlinkat need one, not O_PATH); `name` is left pointing at the last component.
int openParentInRoot(int rootFd, const char* path, const char*& name, const char* what) {
  Buf parent;
  splitParent(path, parent, name);
  int dir = resolveInRoot(rootFd, parent.data, 1);
  if (dir < 0) failSetup(what, parent.data);
  Buf dirPath;
  procFdPath(dirPath, dir);
  int real = open(dirPath.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(dir);
  if (real < 0) failSetup(what, parent.data);
  return real;
}

void setupDevices(int rootFd) {
  for (const DeviceOp& d : S->devices) {
    if (d.bindFromHost) {
      int fd = resolveInRoot(rootFd, d.path.c_str(), 2);
      if (fd < 0) failSetup("create device", d.path.c_str());
      Buf target;
      procFdPath(target, fd);
      if (mount(d.hostPath.c_str(), target.data, nullptr, MS_BIND, nullptr) < 0) failSetup("bind device", d.path.c_str());
      close(fd);
      continue;
    }
    const char* name;
    int real = openParentInRoot(rootFd, d.path.c_str(), name, "open device directory");
    unlinkat(real, name, 0);
    if (mknodat(real, name, (d.block ? S_IFBLK : S_IFCHR) | d.mode, makedev(d.major, d.minor)) < 0) failSetup("mknod", d.path.c_str());
    if (fchmodat(real, name, d.mode, 0) < 0) failSetup("chmod", d.path.c_str());
    if ((d.uid != 0 || d.gid != 0) && fchownat(real, name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) < 0) failSetup("chown", d.path.c_str());
    close(real);
  }
  for (const SymlinkOp& l : S->symlinks) {
    const char* name;
    int real = openParentInRoot(rootFd, l.path.c_str(), name, "open directory");
    if (symlinkat(l.linkTarget.c_str(), real, name) < 0 && errno != EEXIST) failSetup("symlink", l.path.c_str());
    close(real);
  }
}

void pivotRoot() {
  int oldRoot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldRoot < 0) failSetup("open old root");
  int newRoot = open(S->rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newRoot < 0) failSetup("open new root", S->rootfs.c_str());
  if (fchdir(newRoot) < 0) failSetup("chdir to new root");
  if (syscall(SYS_pivot_root, ".", ".") < 0) failSetup("pivot_root");
  // The old root now sits on top of the new one at "/"; detach it without propagating.
  if (fchdir(oldRoot) < 0) failSetup("chdir to old root");
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) failSetup("make old root slave");
  if (umount2(".", MNT_DETACH) < 0) failSetup("detach old root");
  if (chdir("/") < 0) failSetup("chdir /");
  close(oldRoot);
  close(newRoot);
}

// Hands `fd` to the parent over the unix socket `sock` (one data byte carries it).
int sendFd(int sock, int fd) {
  char byte = 't';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t r;
  do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
  return r == 1 ? 0 : -1;
}

// The container's terminal, made in its own devpts instance (so ttyname() finds /dev/pts/N
// there): the slave becomes stdio and the controlling terminal, the master goes to the parent,
// which relays between it and the user's terminal.
void setupTerminal() {
  int rootFd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootFd < 0) failSetup("open /");
  int master = openat2In(rootFd, S->ptyMultiplexer.c_str(), O_RDWR | O_NOCTTY, true);
  if (master < 0) failSetup("open terminal multiplexer", S->ptyMultiplexer.c_str());
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) failSetup("unlock terminal");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) failSetup("open terminal slave");
  if (S->rows != 0 || S->cols != 0) {
    // Before exec, so the program sees the user's terminal size from its first instruction.
    struct winsize ws = {S->rows, S->cols, 0, 0};
    if (ioctl(master, TIOCSWINSZ, &ws) < 0) failSetup("set terminal size");
  }
  // The container's user owns its terminal, as with runc. EINVAL: the uid is not mapped here
  // (the later setuid reports that); EPERM: the node's owner is not mapped.
  if (fchown(slave, S->uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM) failSetup("chown terminal");
  if (!S->consolePath.empty()) {
    int fd = resolveInRoot(rootFd, S->consolePath.c_str(), 2);
    if (fd < 0) failSetup("create", S->consolePath.c_str());
    Buf source, target;
    procFdPath(source, slave);
    procFdPath(target, fd);
    if (mount(source.data, target.data, nullptr, MS_BIND, nullptr) < 0) failSetup("bind terminal on", S->consolePath.c_str());
    close(fd);
  }
  close(rootFd);
  for (int fd = 0; fd < 3; fd++) if (dup2(slave, fd) < 0) failSetup("dup2 terminal");
  if (slave > 2) close(slave);
  if (ioctl(0, TIOCSCTTY, 0) < 0) failSetup("set controlling terminal");
  if (sendFd(S->consoleSocketFd, master) < 0) failSetup("send terminal to the engine");
  close(master);
  close(S->consoleSocketFd);
}

void bringLoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) failSetup("socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) failSetup("read loopback flags");
  ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) failSetup("bring loopback up");
  close(s);
}

void maskAndProtect() {
  for (const std::string& p : S->maskedPaths) {
    struct stat st;
    if (stat(p.c_str(), &st) < 0) continue;
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, nullptr)
                                : mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr);
    if (r < 0) failSetup("mask", p.c_str());
  }
  for (const std::string& p : S->readonlyPaths) {
    if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;
      failSetup("bind read-only path", p.c_str());
    }
    if (remountBind(AT_FDCWD, p.c_str(), false, MS_RDONLY) < 0) failSetup("remount read-only", p.c_str());
  }
}

void dropPrivileges() {
  for (int c = 0; c <= S->lastCap; c++) {
    if (S->capabilities & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) failSetup("drop capability from bounding set");
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (setgroupsAllowed) {
    // Raw system calls: glibc's wrappers would try to signal the parent's threads.
    if (syscall(SYS_setgroups, S->groups.size(), S->groups.empty() ? nullptr : S->groups.data()) < 0) failSetup("setgroups");
  }
  if (syscall(SYS_setresgid, S->gid, S->gid, S->gid) < 0) {
    Buf b;
    b.add("setgid ").add((long)S->gid);
    failSetup(b.data);
  }
  if (syscall(SYS_setresuid, S->uid, S->uid, S->uid) < 0) {
    Buf b;
    b.add("setuid ").add((long)S->uid);
    failSetup(b.data);
  }
  // Changing credentials cleared the parent-death signal; set it again.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  struct __user_cap_header_struct hdr;
  struct __user_cap_data_struct data[2];
  memset(&hdr, 0, sizeof(hdr));
  memset(data, 0, sizeof(data));
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  if (S->uid == 0) {
    data[0].effective = data[0].permitted = (unsigned)(S->capabilities & 0xffffffffULL);
    data[1].effective = data[1].permitted = (unsigned)(S->capabilities >> 32);
  }
  if (syscall(SYS_capset, &hdr, data) < 0) failSetup("capset");
  if (S->noNewPrivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) failSetup("set no_new_privs");
}

// Finds argv[0] as execvp(3) would: the path itself when it has a slash, else each
// $PATH entry in turn. `attempt` tries one candidate and returns 0 when it will do (exec does
// not return) or the errno it met. A command that cannot be run fails as docker reports it.
template <typename Attempt>
void findCommand(Attempt attempt) {
  const char* file = S->argv[0];
  Buf quoted;
  quoted.add("exec: \"").add(file).add("\"");
  if (strchr(file, '/')) {
    int e = attempt(file);
    if (e == 0) return;
    fail(e, (e == ENOENT || e == ENOTDIR) ? 127 : 126, quoted.data);
  }
  const char* path = S->pathVar.c_str();
  bool sawAccess = false;
  int otherErr = 0;
  while (true) {
    const char* end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    Buf full;
    if (n == 0) full.add(".");
    else for (size_t i = 0; i < n && full.len + 1 < sizeof(full.data); i++) full.data[full.len++] = path[i];
    full.data[full.len] = 0;
    full.add("/").add(file);
    int e = attempt(full.data);
    if (e == 0) return;
    if (e == EACCES) sawAccess = true;
    else if (e != ENOENT && e != ENOTDIR) otherErr = e;
    if (!end) break;
    path = end + 1;
  }
  if (sawAccess) fail(EACCES, 126, quoted.data);
  if (otherErr) fail(otherErr, 126, quoted.data);
  Buf msg;
  msg.add("exec: \"").add(file).add("\": executable file not found in $PATH");
  fail(0, 127, msg.data);
}

[[noreturn]] void execProgram() {
  findCommand([](const char* candidate) {
    execve(candidate, S->argv.data(), S->envp.data());
    return errno;
  });
  fail(ENOEXEC, 126, "exec", S->argv[0]);  // not reached: an exec that returns reports an errno
}

// With `--init` the command is not exec'd here: the init executable (bound into the container)
// is, and it runs the command. So that a missing or unrunnable command is still reported as
// kiln reports it, look the command up first as the exec would.
void checkCommand() {
  findCommand([](const char* candidate) {
    struct stat st;
    if (stat(candidate, &st) < 0) return errno;
    return S_ISREG(st.st_mode) && access(candidate, X_OK) == 0 ? 0 : EACCES;
  });
}

[[noreturn]] void execInit() {
  checkCommand();
  execve(S->initPath.c_str(), S->initArgv.data(), S->envp.data());
  fail(errno, 126, "exec init", S->initPath.c_str());
}

// The container's resource limits and OOM adjustment, while kiln may still raise them.
void applyLimits() {
  for (const RlimitOp& l : S->rlimits) {
    struct rlimit r = {(rlim_t)l.soft, (rlim_t)l.hard};
    if (setrlimit(l.resource, &r) < 0) {
      Buf what;
      what.add("set the ").add(l.name.c_str()).add(" limit");
      failSetup(what.data);
    }
  }
  if (!S->setOomScoreAdj) return;
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  Buf value;
  value.add((long)S->oomScoreAdj);
  if (fd < 0 || write(fd, value.data, value.len) != (ssize_t)value.len) {
    if (!(S->oomScoreAdjOptional && errno == EACCES)) failSetup("set oom_score_adj to", value.data);
  }
  if (fd >= 0) close(fd);
}

// chroot isolation: into the prepared root, then the working directory made inside it (the
// chroot confines the path, symlinks included).
void enterChroot() {
  if (chroot(S->chrootDir.c_str()) < 0) failSetup("chroot", S->chrootDir.c_str());
  if (chdir("/") < 0) failSetup("chdir /");
  Buf dir;
  for (const char* p = S->cwd.c_str(); *p; p++) {
    if (*p == '/' && dir.len > 0 && mkdir(dir.data, 0755) < 0 && errno != EEXIST) failSetup("create working directory", dir.data);
    char c[2] = {*p, 0};
    dir.add(c);
  }
  if (dir.len > 1 && mkdir(dir.data, 0755) < 0 && errno != EEXIST) failSetup("create working directory", dir.data);
}

void installSeccomp() {
  if (S->seccomp.empty()) return;
  struct sock_fprog prog;
  prog.len = (unsigned short)S->seccomp.size();
  prog.filter = const_cast<struct sock_filter*>(S->seccomp.data());
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) failSetup("install seccomp filter");
}

// One byte from the parent; EOF (the parent gave up) ends the child quietly.
char awaitGate() {
  char byte = 0;
  ssize_t got;
  do { got = read(S->gateFd, &byte, 1); } while (got < 0 && errno == EINTR);
  if (got != 1) _exit(125);
  return byte;
}

// `kiln exec`: this child joins the namespaces of a running container through a pidfd of its
// PID 1, then forks the process that runs the command there (a PID namespace is entered by
// children only). CLONE_PARENT makes that process a child of kiln itself, which learns its pid
// from the report pipe; this one exits. Only the new process returns.
void joinContainer() {
  if (setns(S->joinPidfd, S->joinNamespaces) < 0) failSetup("join the container's namespaces");
  long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) failSetup("fork into the container");
  if (pid > 0) {
    int32_t reported = (int32_t)pid;
    ssize_t w = write(S->joinReportFd, &reported, sizeof(reported));
    _exit(w == (ssize_t)sizeof(reported) ? 0 : 125);
  }
  close(S->joinReportFd);
  close(S->joinPidfd);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

}  // namespace

int childMain(void* arg) {
  S = static_cast<const ChildSpec*>(arg);
  // Node ignores SIGPIPE and blocks some signals; a container starts with defaults.
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  // Wait until the parent has written the id maps. Our copy of the write end goes first:
  // otherwise a parent that gives up (closes without writing) never reaches us as EOF and we
  // would wait until it exits.
  close(S->gateWriteFd);
  char go = awaitGate();
  setgroupsAllowed = S->setgroupsAllowed && go != 'n';
  if (S->joinPidfd >= 0) joinContainer();

  if (S->inUserNamespace) {
    if (syscall(SYS_setresgid, 0, 0, 0) < 0) failSetup("become root in the user namespace (gid)");
    if (syscall(SYS_setresuid, 0, 0, 0) < 0) failSetup("become root in the user namespace (uid)");
  }
  // Before any mount: a fresh sysfs shows the network namespace it was mounted in.
  if (const char* what = enterChildNetwork(S->network)) failSetup(what);
  if (setsid() < 0) failSetup("setsid");

  if (S->stdinFd >= 0 && dup2(S->stdinFd, 0) < 0) failSetup("dup2 stdin");
  if (S->stdoutFd >= 0 && dup2(S->stdoutFd, 1) < 0) failSetup("dup2 stdout");
  if (S->stderrFd >= 0 && dup2(S->stderrFd, 2) < 0) failSetup("dup2 stderr");
  // Node opens its own stdio close-on-exec; the container's 0-2 must survive execve.
  for (int fd = 0; fd < 3; fd++) fcntl(fd, F_SETFD, 0);
  // Nothing of the engine's but the error pipe may reach the container (it closes on exec).
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);

  umask(0);
  // A joined container's mounts are its own business (they are private already).
  if (S->joinPidfd < 0 && S->newMountNamespace && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) failSetup("make mounts private");

  if (S->mountRoot && S->rootBind) {
    if (mount(S->rootSource.c_str(), S->rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) failSetup("bind root directory on", S->rootfs.c_str());
  } else if (S->mountRoot) {
    // Relative lower dirs (kept short so the options fit in a page) resolve against this cwd.
    if (!S->rootMountCwd.empty() && chdir(S->rootMountCwd.c_str()) < 0) failSetup("chdir", S->rootMountCwd.c_str());
    if (mount(S->rootSource.c_str(), S->rootfs.c_str(), S->rootFstype.c_str(), 0, S->rootData.c_str()) < 0) {
      failSetup("mount root filesystem on", S->rootfs.c_str());
    }
  }
  if (S->pivot) {
    int rootFd = open(S->rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootFd < 0) failSetup("open root", S->rootfs.c_str());
    setupMounts(rootFd);
    setupDevices(rootFd);
    if (!S->cwd.empty()) {
      int fd = resolveInRoot(rootFd, S->cwd.c_str(), 1);
      if (fd < 0) failSetup("create working directory", S->cwd.c_str());
      close(fd);
    }
    close(rootFd);
    pivotRoot();
  }
  if (!S->chrootDir.empty()) enterChroot();
  if (S->consoleSocketFd >= 0) setupTerminal();
  if (S->setHostname && sethostname(S->hostname.c_str(), S->hostname.size()) < 0) failSetup("sethostname");
  if (S->loopbackUp) bringLoopbackUp();
  maskAndProtect();
  if (S->readonlyRootfs && remountBind(AT_FDCWD, "/", false, MS_RDONLY) < 0) failSetup("remount root read-only");
  umask(022);

  // Nothing of the container's own runs before the parent has put us in its cgroup; the
  // cgroup namespace made after that has the container's cgroup as its root.
  awaitGate();
  close(S->gateFd);
  // The parent made the interface while we mounted; it is there once the gate opens.
  if (const char* what = configureChildInterface(S->network)) failSetup(what);
  if (S->unshareCgroup && unshare(CLONE_NEWCGROUP) < 0) failSetup("unshare cgroup namespace");

  // A filter needs no_new_privs or CAP_SYS_ADMIN: without the first it goes in while kiln still
  // has the second, and what follows (setuid, capset, exec) must be allowed by it.
  applyLimits();
  if (!S->noNewPrivileges) installSeccomp();
  dropPrivileges();
  if (!S->cwd.empty() && chdir(S->cwd.c_str()) < 0) failSetup("chdir to working directory", S->cwd.c_str());
  if (S->noNewPrivileges) installSeccomp();

  if (!S->initPath.empty()) execInit();
  execProgram();
}

}  // namespace kiln
