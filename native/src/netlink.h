// A netlink request built in a fixed buffer and sent with plain system calls: no allocation,
// no locks, so the cloned child (see child.cc's rules) can configure its interfaces with it as
// well as the addon can create bridges and veth pairs. Used for rtnetlink (links, addresses,
// routes) and for one nftables query.
#pragma once

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kiln {

struct NetlinkRequest {
  alignas(NLMSG_ALIGNTO) unsigned char buf[1024];
  bool overflow = false;

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf); }

  void start(unsigned short type, unsigned short flags) {
    memset(buf, 0, sizeof(buf));
    overflow = false;
    header()->nlmsg_len = NLMSG_LENGTH(0);
    header()->nlmsg_type = type;
    header()->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
    header()->nlmsg_seq = 1;
  }

  // Room for `len` bytes at the aligned end of the message (zeroed), or nullptr when full.
  void* append(size_t len) {
    size_t at = NLMSG_ALIGN(header()->nlmsg_len);
    if (at + NLMSG_ALIGN(len) > sizeof(buf)) {
      overflow = true;
      return nullptr;
    }
    header()->nlmsg_len = (unsigned)(at + NLMSG_ALIGN(len));
    return buf + at;
  }

  void attr(unsigned short type, const void* data, size_t len) {
    rtattr* a = static_cast<rtattr*>(append(RTA_LENGTH(len)));
    if (!a) return;
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
  }
  void attrString(unsigned short type, const char* s) { attr(type, s, strlen(s) + 1); }
  void attrU32(unsigned short type, unsigned v) { attr(type, &v, sizeof(v)); }

  // Opens a nested attribute; pass the returned offset to endNest once its contents are in.
  size_t beginNest(unsigned short type) {
    size_t at = NLMSG_ALIGN(header()->nlmsg_len);
    attr(type, nullptr, 0);
    return at;
  }
  void endNest(size_t at) {
    if (overflow) return;
    reinterpret_cast<rtattr*>(buf + at)->rta_len = (unsigned short)(header()->nlmsg_len - at);
  }
};

// Sends the request on a new netlink socket of `protocol` and reads until its acknowledgement.
// 0 on success, -1 with errno set (the kernel's answer, or the socket call's) otherwise.
inline int netlinkTalk(NetlinkRequest& r, int protocol = NETLINK_ROUTE) {
  if (r.overflow) {
    errno = EMSGSIZE;
    return -1;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -1;
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, r.buf, r.header()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  alignas(NLMSG_ALIGNTO) unsigned char reply[8192];
  for (;;) {
    ssize_t n;
    do { n = recv(fd, reply, sizeof(reply), 0); } while (n < 0 && errno == EINTR);
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    int len = (int)n;
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        close(fd);
        if (err == 0) return 0;
        errno = err;
        return -1;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return 0;
      }
    }
  }
}

// Brings link `index` up: one RTM_NEWLINK that sets IFF_UP. 0, or -1 with errno.
inline int netlinkSetUp(int index) {
  NetlinkRequest r;
  r.start(RTM_NEWLINK, 0);
  ifinfomsg* i = static_cast<ifinfomsg*>(r.append(sizeof(ifinfomsg)));
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = index;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  return netlinkTalk(r);
}

}  // namespace kiln
