// The child's side of a container's network, in the container's network namespace, under
// child.cc's rules (system calls only, no allocation).
#include "netSpec.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

namespace kiln {
namespace {

int interfaceIndex(const char* name) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  int r = ioctl(s, SIOCGIFINDEX, &ifr);
  int e = errno;
  close(s);
  errno = e;
  return r < 0 ? -1 : ifr.ifr_ifindex;
}

int addAddress(int index, const NetworkSpec& n) {
  NetlinkRequest r;
  r.start(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg* a = static_cast<ifaddrmsg*>(r.append(sizeof(ifaddrmsg)));
  a->ifa_family = AF_INET;
  a->ifa_prefixlen = (unsigned char)n.prefixLength;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  a->ifa_index = (unsigned)index;
  r.attr(IFA_LOCAL, &n.address, 4);
  r.attr(IFA_ADDRESS, &n.address, 4);
  in_addr_t mask = n.prefixLength == 0 ? 0 : htonl(~0u << (32 - n.prefixLength));
  in_addr_t broadcast = n.address | ~mask;
  r.attr(IFA_BROADCAST, &broadcast, 4);
  return netlinkTalk(r);
}

int addDefaultRoute(int index, in_addr_t gateway) {
  NetlinkRequest r;
  r.start(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rtmsg* m = static_cast<rtmsg*>(r.append(sizeof(rtmsg)));
  m->rtm_family = AF_INET;
  m->rtm_table = RT_TABLE_MAIN;
  m->rtm_protocol = RTPROT_BOOT;
  m->rtm_scope = RT_SCOPE_UNIVERSE;
  m->rtm_type = RTN_UNICAST;
  r.attr(RTA_GATEWAY, &gateway, 4);
  r.attrU32(RTA_OIF, (unsigned)index);
  return netlinkTalk(r);
}

void writeSysctls(const NetworkSpec& n) {
  for (const NetSysctl& s : n.sysctls) {
    int fd = open(s.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t w = write(fd, s.value.data(), s.value.size());
    (void)w;
    close(fd);
  }
}

}  // namespace

const char* enterChildNetwork(const NetworkSpec& n) {
  if (n.joinNetnsFd >= 0) {
    if (setns(n.joinNetnsFd, CLONE_NEWNET) < 0) return "join the network namespace of the container";
    close(n.joinNetnsFd);
  }
  writeSysctls(n);
  return nullptr;
}

const char* configureChildInterface(const NetworkSpec& n) {
  if (n.interfaceName.empty()) return nullptr;
  int index = interfaceIndex(n.interfaceName.c_str());
  if (index < 0) return "find the container's network interface";
  if (addAddress(index, n) < 0) return "set the container's address";
  if (netlinkSetUp(index) < 0) return "bring the container's interface up";
  if (n.gateway != 0 && addDefaultRoute(index, n.gateway) < 0) return "set the container's default route";
  return nullptr;
}

}  // namespace kiln
