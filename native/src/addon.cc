// The JS face of the process starter: spawn() clones a child into new namespaces and returns
// the parent's ends of its pipes; the caller (TypeScript) writes id maps, places the child in
// its cgroup and then opens the gate. watch() reports the exit through libuv without blocking
// the event loop (a pidfd becomes readable when the process exits).
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <linux/filter.h>
#include <stddef.h>
#include <termios.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "childSpec.h"
#include "childSpecCodec.h"
#include "directory.h"
#include "network.h"

namespace {

using kiln::ChildSpec;

void ThrowErrno(Napi::Env env, const char* what, int err) {
  std::string msg = std::string(what) + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
}

std::string Str(const Napi::Object& o, const char* key, const std::string& def = "") {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}
bool Bool(const Napi::Object& o, const char* key, bool def = false) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}
double Num(const Napi::Object& o, const char* key, double def = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}
std::vector<std::string> Strings(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

unsigned long MountFlags(const std::vector<std::string>& names) {
  unsigned long f = 0;
  for (const std::string& n : names) {
    if (n == "ro" || n == "rdonly") f |= MS_RDONLY;
    else if (n == "nosuid") f |= MS_NOSUID;
    else if (n == "nodev") f |= MS_NODEV;
    else if (n == "noexec") f |= MS_NOEXEC;
    else if (n == "strictatime") f |= MS_STRICTATIME;
    else if (n == "relatime") f |= MS_RELATIME;
    else if (n == "noatime") f |= MS_NOATIME;
  }
  return f;
}

kiln::MountOp ReadMount(const Napi::Object& m) {
  kiln::MountOp op;
  op.source = Str(m, "source");
  op.target = Str(m, "target");
  op.fstype = Str(m, "fstype");
  op.data = Str(m, "data");
  op.bind = Bool(m, "bind");
  op.remount = Bool(m, "remount");
  op.recursive = Bool(m, "recursive");
  op.readonly = Bool(m, "readonly");
  std::string create = Str(m, "create");
  op.createAs = create == "dir" ? 1 : create == "file" ? 2 : 0;
  op.flags = MountFlags(Strings(m, "flags"));
  if (op.bind) op.flags &= ~(unsigned long)MS_RDONLY, op.readonly = op.readonly || Bool(m, "readonly");
  return op;
}

int PipeOrThrow(Napi::Env env, int fds[2], const char* what) {
  if (pipe2(fds, O_CLOEXEC) < 0) {
    ThrowErrno(env, what, errno);
    return -1;
  }
  return 0;
}

// clone3 with CLONE_INTO_CGROUP: the child starts life in the cgroup (v2) whose directory
// `cgroupFd` is, so no later move (and no RCU grace period) is needed. The child returns here
// as from fork() and never comes back. -1 with errno when the kernel (or a seccomp filter
// around kiln) refuses; the caller falls back to clone() and a cgroup.procs write.
pid_t CloneIntoCgroup(int flags, int cgroupFd, ChildSpec* spec) {
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = (uint64_t)(flags & ~CSIGNAL) | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroupFd;
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) _exit(kiln::childMain(spec));
  return (pid_t)pid;
}

// ---- starting the child through the starter (starter.cc) ---------------------------------
// What the child needs to exec the starter, all prepared before the clone: the child runs on
// kiln's memory while kiln's thread waits (CLONE_VFORK), so it may only make system calls.
struct StarterLaunch {
  const char* path = nullptr;
  char* argv[4] = {nullptr, nullptr, nullptr, nullptr};
  std::string specFdText, errorFdText;
  int inherit[11];
  int inheritCount = 0;
  int errorFd = -1;
  std::string failure;  // "\t125\texec the container starter PATH": the report after the errno
};

// The child's side: keeps the descriptors the starter needs open across the exec and execs it;
// a failed exec is reported on the error pipe as the starter's own failures are.
[[noreturn]] void ExecStarter(StarterLaunch* l) {
  for (int i = 0; i < l->inheritCount; i++) fcntl(l->inherit[i], F_SETFD, 0);
  char* const envp[] = {nullptr};
  execve(l->path, l->argv, envp);
  char digits[16];
  int n = 0, err = errno;
  do { digits[sizeof(digits) - 1 - n++] = (char)('0' + err % 10); err /= 10; } while (err > 0 && n < (int)sizeof(digits));
  ssize_t w = write(l->errorFd, digits + sizeof(digits) - n, (size_t)n);
  w = write(l->errorFd, l->failure.data(), l->failure.size());
  (void)w;
  _exit(125);
}

int StarterChildMain(void* arg) { ExecStarter(static_cast<StarterLaunch*>(arg)); }

#if defined(__x86_64__)
// clone3 whose child runs fn(arg) on a stack of its own (glibc has no clone3 wrapper, and a child
// sharing kiln's memory must not return through kiln's stack frames): the child leaves the
// system call on the new stack and calls fn at once; fn does not return.
long Clone3OnStack(struct clone_args* args, int (*fn)(void*), void* arg) {
  long ret;
  register int (*callee)(void*) asm("r12") = fn;
  register void* callArg asm("r13") = arg;
  asm volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "mov %%r13, %%rdi\n\t"
      "call *%%r12\n\t"
      "mov %%eax, %%edi\n\t"
      "mov %[exitNr], %%eax\n\t"
      "syscall\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "0"((long)SYS_clone3), "D"(args), "S"(sizeof(*args)), "r"(callee), "r"(callArg), [exitNr] "i"(SYS_exit)
      : "rcx", "r11", "memory", "cc");
  if (ret < 0) {
    errno = (int)-ret;
    return -1;
  }
  return ret;
}
#endif

// Where the starter can also be cloned straight into a cgroup: elsewhere a child that must start
// in one is still a copy of kiln (clone3 into the cgroup), as a later move into it would wait for
// an RCU grace period.
#if defined(__x86_64__)
constexpr bool kStarterIntoCgroup = true;
#else
constexpr bool kStarterIntoCgroup = false;
#endif

struct StarterResult {
  pid_t pid = -1;
  int err = 0;
  bool inCgroup = false;
};

// Clones the child sharing kiln's memory and execs the starter in it (as posix_spawn does), in
// the new namespaces (and, where the kernel takes it, straight into `cgroupFd`'s cgroup): no copy
// of Node's address space is made, and kiln's thread waits only until the exec. The starter
// reads the spec from a memory file. All signals are held back meanwhile, so that none runs one
// of kiln's handlers in the child.
StarterResult StartThroughStarter(const std::string& starter, int flags, int cgroupFd, const ChildSpec& s) {
  StarterResult result;
  std::string bytes = kiln::encodeChildSpec(s);
  int specFd = (int)syscall(SYS_memfd_create, "kiln-start-spec", MFD_CLOEXEC);
  if (specFd < 0) {
    result.err = errno;
    return result;
  }
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(specFd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      result.err = n < 0 ? errno : EIO;
      close(specFd);
      return result;
    }
    done += (size_t)n;
  }
  StarterLaunch l;
  l.path = starter.c_str();
  l.specFdText = std::to_string(specFd);
  l.errorFdText = std::to_string(s.errorFd);
  l.argv[0] = const_cast<char*>("kiln-start");
  l.argv[1] = const_cast<char*>(l.specFdText.c_str());
  l.argv[2] = const_cast<char*>(l.errorFdText.c_str());
  l.errorFd = s.errorFd;
  l.failure = "\t125\texec the container starter " + starter;
  // kiln's own 0-2 too (Node may hold them close-on-exec): the child keeps them where the spec
  // replaces none, as a copy of kiln would.
  for (int fd : {0, 1, 2, specFd, s.gateFd, s.errorFd, s.stdinFd, s.stdoutFd, s.stderrFd, s.consoleSocketFd, s.network.joinNetnsFd}) {
    if (fd >= 0) l.inherit[l.inheritCount++] = fd;
  }
  // The child's stack until its exec: kiln's thread waits for that exec (CLONE_VFORK) and
  // starts one container at a time, so one stack per thread, mapped on its first start, serves
  // them all.
  const size_t stackSize = 64 * 1024;
  static thread_local void* stack = nullptr;
  if (stack == nullptr) {
    void* mapped = mmap(nullptr, stackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapped == MAP_FAILED) {
      result.err = errno;
      close(specFd);
      return result;
    }
    stack = mapped;
  }
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int shared = CLONE_VM | CLONE_VFORK;
#if defined(__x86_64__)
  if (cgroupFd >= 0) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = (uint64_t)((flags & ~CSIGNAL) | shared) | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = stackSize;
    args.cgroup = (uint64_t)cgroupFd;
    result.pid = (pid_t)Clone3OnStack(&args, StarterChildMain, &l);
    result.err = errno;
    result.inCgroup = result.pid >= 0;
  }
#endif
  if (result.pid < 0) {
    result.pid = clone(StarterChildMain, static_cast<char*>(stack) + stackSize, flags | shared, &l);
    result.err = errno;
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  close(specFd);
  return result;
}

// spawn(spec) -> { pid, pidfd, gateFd, errorFd, inCgroup, stdinFd?, stdoutFd?, stderrFd?, consoleSocketFd? }
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "spawn(spec) needs a spec object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object js = info[0].As<Napi::Object>();
  auto spec = std::make_unique<ChildSpec>();
  ChildSpec& s = *spec;

  Napi::Object ns = js.Get("namespaces").As<Napi::Object>();
  int flags = SIGCHLD;
  if (Bool(ns, "user")) flags |= CLONE_NEWUSER, s.inUserNamespace = true;
  if (Bool(ns, "mount", true)) flags |= CLONE_NEWNS;
  if (Bool(ns, "pid", true)) flags |= CLONE_NEWPID;
  if (Bool(ns, "uts", true)) flags |= CLONE_NEWUTS;
  if (Bool(ns, "ipc", true)) flags |= CLONE_NEWIPC;
  if (Bool(ns, "net", true)) flags |= CLONE_NEWNET;
  s.unshareCgroup = Bool(ns, "cgroup", true);

  s.rootfs = Str(js, "rootfs");
  s.pivot = !s.rootfs.empty();
  Napi::Value rootMount = js.Get("rootMount");
  if (rootMount.IsObject()) {
    Napi::Object rm = rootMount.As<Napi::Object>();
    s.mountRoot = true;
    s.rootSource = Str(rm, "source");
    s.rootFstype = Str(rm, "fstype");
    s.rootData = Str(rm, "data");
    s.rootMountCwd = Str(rm, "cwd");
    s.rootBind = Bool(rm, "bind");
  }
  s.chrootDir = Str(js, "chroot");
  s.newMountNamespace = (flags & CLONE_NEWNS) != 0;
  Napi::Value mounts = js.Get("mounts");
  if (mounts.IsArray()) {
    Napi::Array a = mounts.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object m = a.Get(i).As<Napi::Object>();
      s.mounts.push_back(ReadMount(m));
      Napi::Value fb = m.Get("fallback");
      if (fb.IsObject()) {
        kiln::MountOp f = ReadMount(fb.As<Napi::Object>());
        f.isFallback = true;
        s.mounts.back().fallback = (int)s.mounts.size();
        s.mounts.push_back(f);
      }
    }
  }
  Napi::Value devices = js.Get("devices");
  if (devices.IsArray()) {
    Napi::Array a = devices.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object d = a.Get(i).As<Napi::Object>();
      kiln::DeviceOp op;
      op.path = Str(d, "path");
      op.block = Str(d, "type", "c") == "b";
      op.mode = (unsigned)Num(d, "mode", 0666);
      op.uid = (uid_t)Num(d, "uid");
      op.gid = (gid_t)Num(d, "gid");
      op.major = (unsigned)Num(d, "major");
      op.minor = (unsigned)Num(d, "minor");
      op.bindFromHost = Bool(d, "bindFromHost");
      op.hostPath = Str(d, "hostPath", op.path);
      s.devices.push_back(op);
    }
  }
  Napi::Value links = js.Get("symlinks");
  if (links.IsArray()) {
    Napi::Array a = links.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object l = a.Get(i).As<Napi::Object>();
      s.symlinks.push_back({Str(l, "target"), Str(l, "path")});
    }
  }
  s.maskedPaths = Strings(js, "maskedPaths");
  s.readonlyPaths = Strings(js, "readonlyPaths");
  s.readonlyRootfs = Bool(js, "readonlyRootfs");
  Napi::Value hostname = js.Get("hostname");
  if (hostname.IsString()) s.hostname = hostname.As<Napi::String>().Utf8Value(), s.setHostname = true;
  s.loopbackUp = (flags & CLONE_NEWNET) != 0;
  if (!kiln::ReadNetworkSpec(env, js, s.network)) return env.Undefined();

  s.uid = (uid_t)Num(js, "uid");
  s.gid = (gid_t)Num(js, "gid");
  Napi::Value groups = js.Get("groups");
  if (groups.IsArray()) {
    Napi::Array a = groups.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) s.groups.push_back((gid_t)a.Get(i).As<Napi::Number>().Uint32Value());
  }
  s.setgroupsAllowed = Bool(js, "setgroups", true);
  std::string caps = Str(js, "capabilities", "0");
  s.capabilities = strtoull(caps.c_str(), nullptr, 10);
  s.lastCap = (int)Num(js, "lastCap", 40);
  s.noNewPrivileges = Bool(js, "noNewPrivileges", true);
  Napi::Value rlimits = js.Get("rlimits");
  if (rlimits.IsArray()) {
    Napi::Array a = rlimits.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object l = a.Get(i).As<Napi::Object>();
      kiln::RlimitOp op;
      op.resource = (int)Num(l, "resource");
      std::string soft = Str(l, "soft", "-1"), hard = Str(l, "hard", "-1");
      op.soft = soft == "-1" ? (unsigned long long)RLIM_INFINITY : strtoull(soft.c_str(), nullptr, 10);
      op.hard = hard == "-1" ? (unsigned long long)RLIM_INFINITY : strtoull(hard.c_str(), nullptr, 10);
      op.name = Str(l, "name", std::to_string(op.resource));
      s.rlimits.push_back(op);
    }
  }
  Napi::Value oom = js.Get("oomScoreAdj");
  if (oom.IsNumber()) s.setOomScoreAdj = true, s.oomScoreAdj = oom.As<Napi::Number>().Int32Value();
  s.oomScoreAdjOptional = Bool(js, "oomScoreAdjOptional");
  s.cwd = Str(js, "cwd");
  s.initPath = Str(js, "initPath");
  Napi::Value seccomp = js.Get("seccomp");
  if (seccomp.IsBuffer()) {
    Napi::Buffer<uint8_t> prog = seccomp.As<Napi::Buffer<uint8_t>>();
    s.seccomp.resize(prog.Length() / sizeof(struct sock_filter));
    memcpy(s.seccomp.data(), prog.Data(), s.seccomp.size() * sizeof(struct sock_filter));
  }

  s.argvStore = Strings(js, "argv");
  s.envStore = Strings(js, "env");
  if (s.argvStore.empty()) {
    Napi::TypeError::New(env, "spawn: argv is empty").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!s.initPath.empty()) {
    s.initArgvStore = {s.initPath, "--"};
    s.initArgvStore.insert(s.initArgvStore.end(), s.argvStore.begin(), s.argvStore.end());
  }
  kiln::linkChildSpecArgv(s);
  s.pathVar = Str(js, "path", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  // Pipes: gate (parent writes), error (child writes), stdio as asked.
  std::vector<int> closeInParent, closeOnFailure;
  auto cleanup = [&](std::vector<int>& fds) { for (int fd : fds) if (fd >= 0) close(fd); };
  int gate[2], err[2];
  if (PipeOrThrow(env, gate, "pipe") < 0) return env.Undefined();
  // Non-blocking, so the parent can drain it after exit even if a grandchild (--init) lingers.
  if (pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) { int e = errno; close(gate[0]); close(gate[1]); ThrowErrno(env, "pipe", e); return env.Undefined(); }
  s.gateFd = gate[0];
  s.gateWriteFd = gate[1];
  s.errorFd = err[1];
  closeInParent = {gate[0], err[1]};
  closeOnFailure = {gate[1], err[0]};

  Napi::Object result = Napi::Object::New(env);
  std::string stdio = Str(js, "stdio", "inherit");
  std::string stdinMode = Str(js, "stdin", "inherit");
  if (stdio == "pty") {
    // The child makes the terminal inside the container and sends its master back on this socket.
    Napi::Value pty = js.Get("pty");
    if (!pty.IsObject()) {
      cleanup(closeInParent); cleanup(closeOnFailure);
      Napi::TypeError::New(env, "spawn: stdio 'pty' needs spec.pty").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object p = pty.As<Napi::Object>();
    s.ptyMultiplexer = Str(p, "ptmx");
    s.consolePath = Str(p, "console");
    s.rows = (unsigned short)Num(p, "rows");
    s.cols = (unsigned short)Num(p, "cols");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
      int e = errno;
      cleanup(closeInParent); cleanup(closeOnFailure);
      ThrowErrno(env, "socketpair", e);
      return env.Undefined();
    }
    s.consoleSocketFd = sv[1];
    closeInParent.push_back(sv[1]);
    closeOnFailure.push_back(sv[0]);
    result.Set("consoleSocketFd", Napi::Number::New(env, sv[0]));
  } else if (stdio == "pipe") {
    int out[2], errp[2];
    if (PipeOrThrow(env, out, "pipe") < 0) { cleanup(closeInParent); cleanup(closeOnFailure); return env.Undefined(); }
    if (PipeOrThrow(env, errp, "pipe") < 0) { close(out[0]); close(out[1]); cleanup(closeInParent); cleanup(closeOnFailure); return env.Undefined(); }
    s.stdoutFd = out[1];
    s.stderrFd = errp[1];
    closeInParent.push_back(out[1]);
    closeInParent.push_back(errp[1]);
    closeOnFailure.push_back(out[0]);
    closeOnFailure.push_back(errp[0]);
    result.Set("stdoutFd", Napi::Number::New(env, out[0]));
    result.Set("stderrFd", Napi::Number::New(env, errp[0]));
  }
  if (stdio != "pty") {
    if (stdinMode == "null") {
      int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull < 0) { int e = errno; cleanup(closeInParent); cleanup(closeOnFailure); ThrowErrno(env, "open /dev/null", e); return env.Undefined(); }
      s.stdinFd = devnull;
      closeInParent.push_back(devnull);
    } else if (stdinMode == "pipe") {
      int in[2];
      if (PipeOrThrow(env, in, "pipe") < 0) { cleanup(closeInParent); cleanup(closeOnFailure); return env.Undefined(); }
      s.stdinFd = in[0];
      closeInParent.push_back(in[0]);
      closeOnFailure.push_back(in[1]);
      result.Set("stdinFd", Napi::Number::New(env, in[1]));
    }
  }

  Napi::Value join = js.Get("join");
  if (join.IsObject()) {
    // kiln exec: the child joins a running container and reports the pid of the process it forks.
    Napi::Object j = join.As<Napi::Object>();
    int report[2];
    if (PipeOrThrow(env, report, "pipe") < 0) { cleanup(closeInParent); cleanup(closeOnFailure); return env.Undefined(); }
    s.joinPidfd = (int)Num(j, "pidfd", -1);
    s.joinNamespaces = (int)Num(j, "namespaces");
    s.joinReportFd = report[1];
    closeInParent.push_back(report[1]);
    closeOnFailure.push_back(report[0]);
    result.Set("joinReportFd", Napi::Number::New(env, report[0]));
  }

  int cgroupFd = (int)Num(js, "cgroupFd", -1);
  std::string starter = Str(js, "starter");
  bool started = false;  // through the starter (failed or not): no copy of kiln is tried then
  bool inCgroup = false;
  pid_t pid = -1;
  int cloneErr = 0;
  // An exec before the parent wrote the id maps would leave the child no capability in its new
  // user namespace; joining one needs a process that shares no memory.
  if (!starter.empty() && ((flags & CLONE_NEWUSER) || s.joinPidfd >= 0)) {
    cleanup(closeInParent); cleanup(closeOnFailure);
    Napi::TypeError::New(env, "spawn: a starter cannot start a new user namespace or join a container").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!starter.empty() && (cgroupFd < 0 || kStarterIntoCgroup)) {
    StarterResult viaStarter = StartThroughStarter(starter, flags, cgroupFd, s);
    pid = viaStarter.pid;
    cloneErr = viaStarter.err;
    inCgroup = viaStarter.inCgroup;
    started = true;
  } else if (cgroupFd >= 0) {
    pid = CloneIntoCgroup(flags, cgroupFd, spec.get());
    cloneErr = errno;
    inCgroup = pid >= 0;
  }
  if (pid < 0 && !started) {
    const size_t stackSize = 512 * 1024;
    void* stack = mmap(nullptr, stackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      int e = errno;
      cleanup(closeInParent); cleanup(closeOnFailure);
      ThrowErrno(env, "mmap child stack", e);
      return env.Undefined();
    }
    pid = clone(kiln::childMain, static_cast<char*>(stack) + stackSize, flags, spec.get());
    cloneErr = errno;
    munmap(stack, stackSize);
  }
  cleanup(closeInParent);
  if (pid < 0) {
    cleanup(closeOnFailure);
    ThrowErrno(env, "clone", cloneErr);
    return env.Undefined();
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    cleanup(closeOnFailure);
    ThrowErrno(env, "pidfd_open", e);
    return env.Undefined();
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidfd));
  result.Set("gateFd", Napi::Number::New(env, gate[1]));
  result.Set("inCgroup", Napi::Boolean::New(env, inCgroup));
  result.Set("errorFd", Napi::Number::New(env, err[0]));
  return result;
}

// awaitJoined(reportFd, childPidfd) -> { pid, pidfd } | null: after the gate opened, a joining
// child (spawn with `join`) forks the process that runs in the container and exits. This reads
// that process's pid (blocking: the child only calls setns and fork meanwhile), reaps the child,
// and opens a pidfd of the new process — kiln's own child through CLONE_PARENT. Null when the
// child failed first (its report is on the error pipe). Closes reportFd and childPidfd.
Napi::Value AwaitJoined(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "awaitJoined(reportFd, childPidfd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int reportFd = info[0].As<Napi::Number>().Int32Value();
  int childPidfd = info[1].As<Napi::Number>().Int32Value();
  int32_t pid = -1;
  size_t got = 0;
  while (got < sizeof(pid)) {
    ssize_t n = read(reportFd, reinterpret_cast<char*>(&pid) + got, sizeof(pid) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(reportFd);
  siginfo_t si;
  int r;
  do { r = waitid((idtype_t)P_PIDFD, (id_t)childPidfd, &si, WEXITED); } while (r < 0 && errno == EINTR);
  close(childPidfd);
  if (got < sizeof(pid) || pid <= 0) return env.Null();
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (pidfd < 0) {
    ThrowErrno(env, "pidfd_open", errno);
    return env.Undefined();
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  return out;
}

// pidfdOpen(pid) -> fd (close-on-exec), or -1 when no such process: a handle on a process that
// stays valid however its pid is reused (signal() and watch() take it).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "pidfdOpen(pid)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)info[0].As<Napi::Number>().Int32Value(), 0);
  if (fd < 0) {
    if (errno == ESRCH) return Napi::Number::New(env, -1);
    ThrowErrno(env, "pidfd_open", errno);
    return env.Undefined();
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(env, fd);
}

// ---- waiting for exit through libuv ------------------------------------------------------
struct Watch {
  uv_poll_t poll;
  int pidfd;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
  napi_env env;
};

void OnPidfdReadable(uv_poll_t* handle, int status, int events) {
  Watch* w = static_cast<Watch*>(handle->data);
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  int r;
  do { r = waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG); } while (r < 0 && errno == EINTR);
  if (r == 0 && si.si_pid == 0) return;  // spurious wake-up: not exited yet
  uv_poll_stop(handle);
  int code = -1, sig = 0;
  if (r == 0) {
    if (si.si_code == CLD_EXITED) code = si.si_status;
    else sig = si.si_status;
  }
  Napi::Env env(w->env);
  {
    Napi::HandleScope scope(env);
    w->callback.MakeCallback(env.Global(), {Napi::Number::New(env, code), Napi::Number::New(env, sig)}, *w->context);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) {
    Watch* w = static_cast<Watch*>(h->data);
    close(w->pidfd);
    delete w;
  });
}

// watch(pidfd, (exitCode, signal) => void): reaps the child when it exits; closes the pidfd.
Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  Napi::Function cb = info[1].As<Napi::Function>();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Watch* w = new Watch();
  w->pidfd = pidfd;
  w->env = env;
  w->callback = Napi::Persistent(cb);
  w->context = std::make_unique<Napi::AsyncContext>(env, "kiln:container");
  int r = uv_poll_init(loop, &w->poll, pidfd);
  if (r == 0) {
    w->poll.data = w;
    r = uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable);
  }
  if (r != 0) {
    delete w;
    Napi::Error::New(env, std::string("watch: ") + uv_strerror(r)).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// ---- receiving a file descriptor (a container's terminal master) through libuv -------------
struct Receive {
  uv_poll_t poll;
  int socketFd;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
  napi_env env;
};

void OnSocketReadable(uv_poll_t* handle, int status, int events) {
  Receive* r = static_cast<Receive*>(handle->data);
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  ssize_t n;
  do { n = recvmsg(r->socketFd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // spurious wake-up
  int fd = -1;
  if (n > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < count; i++) {
        int got;
        memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (fd < 0) fd = got;
        else close(got);  // only one was meant to come
      }
    }
  }
  uv_poll_stop(handle);
  Napi::Env env(r->env);
  {
    Napi::HandleScope scope(env);
    r->callback.MakeCallback(env.Global(), {Napi::Number::New(env, fd)}, *r->context);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) {
    Receive* r = static_cast<Receive*>(h->data);
    close(r->socketFd);
    delete r;
  });
}

// receiveFd(socketFd, (fd) => void): calls back once with the descriptor the peer sends over
// the unix socket, or -1 when the peer closes its end without sending one; closes the socket.
Napi::Value ReceiveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "receiveFd(socketFd, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Receive* r = new Receive();
  r->socketFd = info[0].As<Napi::Number>().Int32Value();
  r->env = env;
  r->callback = Napi::Persistent(info[1].As<Napi::Function>());
  r->context = std::make_unique<Napi::AsyncContext>(env, "kiln:receiveFd");
  int e = uv_poll_init(loop, &r->poll, r->socketFd);
  if (e != 0) {
    delete r;
    Napi::Error::New(env, std::string("receiveFd: ") + uv_strerror(e)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  r->poll.data = r;
  e = uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, OnSocketReadable);
  if (e != 0) {
    // The handle is initialised: it must be closed through the loop (the socket stays the caller's).
    uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), [](uv_handle_t* h) { delete static_cast<Receive*>(h->data); });
    Napi::Error::New(env, std::string("receiveFd: ") + uv_strerror(e)).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// signal(pidfd, signo): false when the process is already gone.
Napi::Value Signal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0) {
    if (errno == ESRCH) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "pidfd_send_signal", errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

// setWindowSize(fd, rows, cols) on a pty master.
Napi::Value SetWindowSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct winsize ws = {(unsigned short)info[1].As<Napi::Number>().Uint32Value(), (unsigned short)info[2].As<Napi::Number>().Uint32Value(), 0, 0};
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) ThrowErrno(env, "TIOCSWINSZ", errno);
  return env.Undefined();
}

// clearOutputProcessing(fd): turns off OPOST on a terminal, the part of raw mode libuv keeps
// (it leaves ONLCR on), so bytes relayed from a container's pty reach the screen unchanged.
Napi::Value ClearOutputProcessing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct termios t;
  if (tcgetattr(fd, &t) < 0) {
    ThrowErrno(env, "tcgetattr", errno);
    return env.Undefined();
  }
  t.c_oflag &= ~(tcflag_t)OPOST;
  if (tcsetattr(fd, TCSANOW, &t) < 0) ThrowErrno(env, "tcsetattr", errno);
  return env.Undefined();
}

// getXattr(path, name) -> Buffer | null (symlinks not followed; null when absent).
Napi::Value GetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  char buf[4096];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP || errno == ENOENT) return env.Null();
    ThrowErrno(env, "lgetxattr", errno);
    return env.Undefined();
  }
  return Napi::Buffer<char>::Copy(env, buf, (size_t)n);
}

// listXattrs(path) -> { name: Buffer } for every extended attribute (symlinks not followed).
Napi::Value ListXattrs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Object out = Napi::Object::New(env);
  std::vector<char> names(1024);
  ssize_t n;
  while ((n = llistxattr(path.c_str(), names.data(), names.size())) < 0 && errno == ERANGE) names.resize(names.size() * 4);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENOENT) return out;
    ThrowErrno(env, "llistxattr", errno);
    return env.Undefined();
  }
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < n;) {
    const char* name = names.data() + off;
    off += (ssize_t)strlen(name) + 1;
    ssize_t v;
    while ((v = lgetxattr(path.c_str(), name, value.data(), value.size())) < 0 && errno == ERANGE) value.resize(value.size() * 4);
    if (v < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      ThrowErrno(env, "lgetxattr", errno);
      return env.Undefined();
    }
    out.Set(name, Napi::Buffer<char>::Copy(env, value.data(), (size_t)v));
  }
  return out;
}

// mount(source, target, fstype, flags, data): one mount(2) in kiln's own mount namespace (a
// read-only overlay view of a build stage's layers). Throws with errno on failure.
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsArray() || !info[4].IsString()) {
    Napi::TypeError::New(env, "mount(source, target, fstype, flags, data)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  std::string fstype = info[2].As<Napi::String>().Utf8Value();
  std::vector<std::string> names;
  Napi::Array a = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) names.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  std::string data = info[4].As<Napi::String>().Utf8Value();
  if (mount(source.c_str(), target.c_str(), fstype.c_str(), MountFlags(names), data.empty() ? nullptr : data.c_str()) < 0) {
    ThrowErrno(env, "mount", errno);
  }
  return env.Undefined();
}

// unmount(target, detach): umount2(2); detach = MNT_DETACH (lazy). False when nothing is
// mounted there (EINVAL) or the path is gone (ENOENT); throws on other errors.
Napi::Value Unmount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "unmount(target, detach)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string target = info[0].As<Napi::String>().Utf8Value();
  bool detach = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (umount2(target.c_str(), detach ? MNT_DETACH : 0) < 0) {
    if (errno == EINVAL || errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "umount", errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

// loadBpfProgram(type, instructions, license) -> fd: bpf(BPF_PROG_LOAD) of the eBPF program
// TypeScript emitted (8-byte instructions). On refusal the verifier's log is in the message.
Napi::Value LoadBpfProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsString()) {
    Napi::TypeError::New(env, "loadBpfProgram(type, instructions, license)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> code = info[1].As<Napi::Buffer<uint8_t>>();
  std::string license = info[2].As<Napi::String>().Utf8Value();
  auto load = [&](char* log, uint32_t logSize) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = info[0].As<Napi::Number>().Uint32Value();
    attr.insns = (uint64_t)(uintptr_t)code.Data();
    attr.insn_cnt = (uint32_t)(code.Length() / sizeof(struct bpf_insn));
    attr.license = (uint64_t)(uintptr_t)license.c_str();
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = logSize;
    attr.log_level = log ? 1 : 0;
    return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  };
  // The verifier gives up with EAGAIN when a signal is pending while it works (a profiler's
  // SIGPROF, a timer): signals wait while it runs (they are delivered right after), and an
  // EAGAIN is still retried a few times, as libbpf does.
  sigset_t all, was;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &was);
  int fd = -1;
  for (int attempt = 0; attempt < 5; attempt++) {
    fd = load(nullptr, 0);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &was, nullptr);
  if (fd >= 0) return Napi::Number::New(env, fd);
  std::string log(16384, '\0');
  if (err == EINVAL || err == EACCES) load(&log[0], (uint32_t)log.size());
  log.resize(strlen(log.c_str()));
  ThrowErrno(env, log.empty() ? "bpf(BPF_PROG_LOAD)" : ("bpf(BPF_PROG_LOAD) " + log).c_str(), err);
  return env.Undefined();
}

// attachBpfProgram(targetFd, progFd, attachType, flags): bpf(BPF_PROG_ATTACH), e.g. a device
// program to a cgroup directory. The attachment holds the program; the caller may close progFd.
Napi::Value AttachBpfProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) {
    Napi::TypeError::New(env, "attachBpfProgram(targetFd, progFd, attachType, flags)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = info[0].As<Napi::Number>().Uint32Value();
  attr.attach_bpf_fd = info[1].As<Napi::Number>().Uint32Value();
  attr.attach_type = info[2].As<Napi::Number>().Uint32Value();
  attr.attach_flags = info[3].As<Napi::Number>().Uint32Value();
  if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0) ThrowErrno(env, "bpf(BPF_PROG_ATTACH)", errno);
  return env.Undefined();
}

// unshareMountNamespace(): moves the calling thread into a new mount namespace whose mounts are
// slaves of the ones it leaves (unmounts made outside still reach it; its own mounts stay in).
// Only this thread moves, and the threads it starts later: other threads keep the old namespace.
// Throws with errno on failure.
Napi::Value UnshareMountNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (unshare(CLONE_NEWNS) < 0) {
    ThrowErrno(env, "unshare(CLONE_NEWNS)", errno);
    return env.Undefined();
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) ThrowErrno(env, "make mounts slave", errno);
  return env.Undefined();
}

// enterMountNamespace(fd): setns(2) of the calling thread into the mount namespace `fd` names.
Napi::Value EnterMountNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "enterMountNamespace(fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (setns(info[0].As<Napi::Number>().Int32Value(), CLONE_NEWNS) < 0) ThrowErrno(env, "setns", errno);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("loadBpfProgram", Napi::Function::New(env, LoadBpfProgram));
  exports.Set("attachBpfProgram", Napi::Function::New(env, AttachBpfProgram));
  exports.Set("unshareMountNamespace", Napi::Function::New(env, UnshareMountNamespace));
  exports.Set("enterMountNamespace", Napi::Function::New(env, EnterMountNamespace));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("unmount", Napi::Function::New(env, Unmount));
  exports.Set("listXattrs", Napi::Function::New(env, ListXattrs));
  exports.Set("getXattr", Napi::Function::New(env, GetXattr));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("awaitJoined", Napi::Function::New(env, AwaitJoined));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("watch", Napi::Function::New(env, WatchExit));
  exports.Set("signal", Napi::Function::New(env, Signal));
  exports.Set("setWindowSize", Napi::Function::New(env, SetWindowSize));
  exports.Set("receiveFd", Napi::Function::New(env, ReceiveFd));
  exports.Set("clearOutputProcessing", Napi::Function::New(env, ClearOutputProcessing));
  kiln::RegisterNetworkFunctions(env, exports);
  kiln::RegisterDirectoryFunctions(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kiln_native, Init)
