// What the child process does between clone() and execve(). A field added here is added to
// childSpecCodec.cc's list too, or the starter never sees it. The parent fills this in
// (allocating freely); the child only reads it. After clone() the child runs in a copy of a
// multi-threaded process, so it must not allocate, lock or touch JS: every string it needs is
// prepared here beforehand and the child calls only system calls.
#pragma once

#include <string>
#include <vector>
#include <sys/types.h>
#include <linux/filter.h>

#include "netSpec.h"

namespace kiln {

struct MountOp {
  std::string source;
  std::string target;   // absolute path inside the container root
  std::string fstype;   // empty for bind mounts
  std::string data;
  unsigned long flags = 0;  // MS_* applied on the mount call (MS_RDONLY for non-bind mounts)
  bool bind = false;
  bool remount = false;     // change the flags of what is mounted at target (MS_REMOUNT)
  bool recursive = false;
  bool readonly = false;    // bind mounts: remounted read-only afterwards
  int createAs = 0;         // 0: must exist, 1: directory, 2: empty file
  int fallback = -1;        // index of another op to try when this one is refused (EPERM)
  bool isFallback = false;  // skipped in the ordinary sequence
};

struct DeviceOp {
  std::string path;      // inside the container, e.g. /dev/null
  bool block = false;    // a block device (S_IFBLK); a character device otherwise
  unsigned int mode = 0; // permission bits
  unsigned int major = 0, minor = 0;
  uid_t uid = 0;         // owner of the node made
  gid_t gid = 0;
  bool bindFromHost = false;  // in a user namespace mknod is refused: bind the host node instead
  std::string hostPath;
};

struct RlimitOp {
  int resource = 0;
  unsigned long long soft = 0, hard = 0;  // RLIM_INFINITY: unlimited
  std::string name;                       // for messages
};

struct SymlinkOp {
  std::string linkTarget;  // what the link points to
  std::string path;        // where the link is created inside the container
};

struct ChildSpec {
  // Synchronisation with the parent. The gate carries two bytes: the first lets the child set
  // up its root (after the parent wrote the id maps); the second, read just before the child
  // leaves kiln's code (cgroup namespace, privileges, exec), says the parent has put it in its
  // cgroup — so the cgroup's slow join overlaps the mounts. EOF at either means "give up".
  int gateFd = -1;
  int gateWriteFd = -1;  // the parent's end, closed first in the child so a closed gate reads as EOF
  int errorFd = -1;   // write end, close-on-exec: a message here means setup failed

  // `kiln exec`: join the namespaces (CLONE_NEW* flags) of the process this pidfd names after
  // the first gate byte, then fork the process that goes on (see joinContainer in child.cc)
  // and report its pid, 4 bytes, on joinReportFd. -1: start a container instead.
  int joinPidfd = -1;
  int joinNamespaces = 0;
  int joinReportFd = -1;

  // Standard streams (-1: keep what the parent had).
  int stdinFd = -1, stdoutFd = -1, stderrFd = -1;
  // A terminal made inside the container (as runc and crun do): after pivot_root the child
  // opens ptyMultiplexer (the container's own devpts instance), makes the slave its controlling
  // terminal and stdio, binds it onto consolePath (empty: nowhere), sets the window size when
  // given, and sends the master to the parent over consoleSocketFd (SCM_RIGHTS). -1: no terminal.
  int consoleSocketFd = -1;
  std::string ptyMultiplexer;
  std::string consolePath;
  unsigned short rows = 0, cols = 0;

  bool inUserNamespace = false;
  bool unshareCgroup = false;

  // Root filesystem.
  std::string rootfs;           // host directory that becomes "/"
  bool mountRoot = false;
  std::string rootSource, rootFstype, rootData, rootMountCwd;
  bool rootBind = false;        // bind rootSource (recursively) instead of mounting a filesystem
  bool newMountNamespace = true;  // false: the caller's mounts are shared, so none are touched
  std::string chrootDir;        // chroot isolation: chroot(2) here instead of pivot_root
  std::vector<MountOp> mounts;
  std::vector<DeviceOp> devices;
  std::vector<SymlinkOp> symlinks;
  std::vector<std::string> maskedPaths;
  std::vector<std::string> readonlyPaths;
  bool readonlyRootfs = false;
  bool pivot = true;

  NetworkSpec network;  // joined or configured right after the gate (childNetwork.cc)

  std::string hostname;
  bool setHostname = false;
  bool loopbackUp = false;

  // Identity and privileges.
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool setgroupsAllowed = true;
  unsigned long long capabilities = 0;  // bit n = capability n kept
  int lastCap = 40;
  bool noNewPrivileges = true;

  // Resource limits and the OOM killer's adjustment, set before privileges are dropped.
  std::vector<RlimitOp> rlimits;
  bool setOomScoreAdj = false;
  int oomScoreAdj = 0;
  bool oomScoreAdjOptional = false;  // a refusal (EACCES) keeps the inherited value

  // A seccomp filter installed right before exec (after no_new_privs); empty: none.
  std::vector<struct sock_filter> seccomp;

  std::string cwd;
  // Non-empty: exec this init (a path inside the container) with initArgv, which runs argv.
  std::string initPath;
  std::vector<std::string> initArgvStore;
  std::vector<char*> initArgv;

  // Program.
  std::vector<std::string> argvStore, envStore;
  std::vector<char*> argv, envp;     // NULL-terminated views of the stores
  std::string pathVar;                // PATH from the container's environment
};

// Entry point of the cloned child. Never returns.
int childMain(void* spec);

}  // namespace kiln
