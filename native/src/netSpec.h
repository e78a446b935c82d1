// What the cloned child does to its network namespace (see childNetwork.cc): join another
// process's namespace and set per-namespace sysctls before it mounts anything, and configure the
// interface the parent moved in while it mounted (address, up, default route) after its last gate.
// Filled by the addon from the spawn spec; the child only reads it.
#pragma once

#include <netinet/in.h>
#include <string>
#include <vector>

namespace kiln {

struct NetSysctl {
  std::string path;   // /proc/sys/net/...
  std::string value;
};

struct NetworkSpec {
  // A descriptor of /proc/PID/ns/net to join (`--network container:NAME`); -1: none.
  int joinNetnsFd = -1;

  // The interface to configure (empty name: none).
  std::string interfaceName;
  in_addr_t address = 0;   // network byte order
  int prefixLength = 0;
  in_addr_t gateway = 0;   // 0: no default route

  // Written best-effort: a kernel or user namespace that refuses one leaves its default.
  std::vector<NetSysctl> sysctls;
};

// Run in the child; nullptr on success, otherwise what failed (errno set). Right after the
// first gate, before any mount: joins the namespace to join and writes the sysctls.
const char* enterChildNetwork(const NetworkSpec& spec);
// After the last gate, once the parent has moved the interface in: address, up, default route.
const char* configureChildInterface(const NetworkSpec& spec);

}  // namespace kiln
