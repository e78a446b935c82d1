// One list of a ChildSpec's fields (visitSpec), walked by the writer and by the reader alike, so
// the two cannot disagree on the order. Numbers go as their bytes, strings and lists with their
// length first.
#include "childSpecCodec.h"

#include <string.h>

#include <type_traits>

namespace kiln {

#if defined(__x86_64__) && defined(__GLIBCXX__)
// A new field changes the size: this stops the build until visitSpec (below) lists it too.
static_assert(sizeof(ChildSpec) == 928, "a ChildSpec field was added or removed: list it in visitSpec, then update this size");
#endif

namespace {

class Writer {
 public:
  std::string out;

  template <typename T>
  typename std::enable_if<std::is_trivially_copyable<T>::value>::type operator()(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void operator()(const std::string& s) {
    (*this)(static_cast<uint64_t>(s.size()));
    out.append(s);
  }
  template <typename T>
  void operator()(const std::vector<T>& items);
};

class Reader {
 public:
  Reader(const char* data, size_t length) : p_(data), end_(data + length) {}
  bool ok = true;

  bool atEnd() const { return p_ == end_; }

  template <typename T>
  typename std::enable_if<std::is_trivially_copyable<T>::value>::type operator()(T& v) {
    if (!take(sizeof(T))) return;
    memcpy(&v, p_ - sizeof(T), sizeof(T));
  }
  void operator()(std::string& s) {
    uint64_t n = 0;
    (*this)(n);
    if (!take(n)) return;
    s.assign(p_ - n, n);
  }
  template <typename T>
  void operator()(std::vector<T>& items);

 private:
  bool take(uint64_t n) {
    if (!ok || n > static_cast<uint64_t>(end_ - p_)) return ok = false;
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
};

// The parts of a spec that are lists of records: each record's fields in order.
template <typename IO, typename M>
void visitRecord(IO& io, M& m, MountOp*) {
  io(m.source), io(m.target), io(m.fstype), io(m.data), io(m.flags), io(m.bind), io(m.remount), io(m.recursive),
      io(m.readonly), io(m.createAs), io(m.fallback), io(m.isFallback);
}
template <typename IO, typename D>
void visitRecord(IO& io, D& d, DeviceOp*) {
  io(d.path), io(d.block), io(d.mode), io(d.major), io(d.minor), io(d.uid), io(d.gid), io(d.bindFromHost), io(d.hostPath);
}
template <typename IO, typename L>
void visitRecord(IO& io, L& l, SymlinkOp*) { io(l.linkTarget), io(l.path); }
template <typename IO, typename R>
void visitRecord(IO& io, R& r, RlimitOp*) { io(r.resource), io(r.soft), io(r.hard), io(r.name); }
template <typename IO, typename S>
void visitRecord(IO& io, S& s, NetSysctl*) { io(s.path), io(s.value); }
template <typename IO, typename S>
void visitRecord(IO& io, S& s, std::string*) { io(s); }

template <typename IO, typename T>
void visitItem(IO& io, T& item) {
  using Plain = typename std::remove_const<T>::type;
  if constexpr (std::is_trivially_copyable<Plain>::value) io(item);
  else visitRecord(io, item, static_cast<Plain*>(nullptr));
}

template <typename T>
void Writer::operator()(const std::vector<T>& items) {
  (*this)(static_cast<uint64_t>(items.size()));
  for (const T& item : items) visitItem(*this, item);
}

template <typename T>
void Reader::operator()(std::vector<T>& items) {
  uint64_t n = 0;
  (*this)(n);
  // Every item takes at least one byte: a count beyond what is left is a broken spec.
  if (!ok || n > static_cast<uint64_t>(end_ - p_)) {
    ok = false;
    return;
  }
  items.resize(n);
  for (T& item : items) {
    if (!ok) return;
    visitItem(*this, item);
  }
}

// Every field the child reads, once. The char* views of argv and env are not here: they point
// into the stores and are linked again after reading (linkChildSpecArgv).
template <typename IO, typename Spec>
void visitSpec(IO& io, Spec& s) {
  io(s.gateFd), io(s.gateWriteFd), io(s.errorFd);
  io(s.joinPidfd), io(s.joinNamespaces), io(s.joinReportFd);
  io(s.stdinFd), io(s.stdoutFd), io(s.stderrFd);
  io(s.consoleSocketFd), io(s.ptyMultiplexer), io(s.consolePath), io(s.rows), io(s.cols);
  io(s.inUserNamespace), io(s.unshareCgroup);
  io(s.rootfs), io(s.mountRoot), io(s.rootSource), io(s.rootFstype), io(s.rootData), io(s.rootMountCwd), io(s.rootBind);
  io(s.newMountNamespace), io(s.chrootDir);
  io(s.mounts), io(s.devices), io(s.symlinks), io(s.maskedPaths), io(s.readonlyPaths);
  io(s.readonlyRootfs), io(s.pivot);
  io(s.network.joinNetnsFd), io(s.network.interfaceName), io(s.network.address), io(s.network.prefixLength);
  io(s.network.gateway), io(s.network.sysctls);
  io(s.hostname), io(s.setHostname), io(s.loopbackUp);
  io(s.uid), io(s.gid), io(s.groups), io(s.setgroupsAllowed), io(s.capabilities), io(s.lastCap), io(s.noNewPrivileges);
  io(s.rlimits), io(s.setOomScoreAdj), io(s.oomScoreAdj), io(s.oomScoreAdjOptional);
  io(s.seccomp);
  io(s.cwd), io(s.initPath), io(s.initArgvStore);
  io(s.argvStore), io(s.envStore), io(s.pathVar);
}

}  // namespace

std::string encodeChildSpec(const ChildSpec& spec) {
  Writer w;
  visitSpec(w, spec);
  return std::move(w.out);
}

bool decodeChildSpec(const char* data, size_t length, ChildSpec& out) {
  Reader r(data, length);
  visitSpec(r, out);
  if (!r.ok || !r.atEnd() || out.argvStore.empty()) return false;
  linkChildSpecArgv(out);
  return true;
}

void linkChildSpecArgv(ChildSpec& spec) {
  auto link = [](std::vector<std::string>& store, std::vector<char*>& view) {
    view.clear();
    for (std::string& a : store) view.push_back(const_cast<char*>(a.c_str()));
    view.push_back(nullptr);
  };
  link(spec.argvStore, spec.argv);
  link(spec.envStore, spec.envp);
  if (spec.initArgvStore.empty()) spec.initArgv.clear();
  else link(spec.initArgvStore, spec.initArgv);
}

}  // namespace kiln
