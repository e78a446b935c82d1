// The host's side of container networking, as small system-call wrappers; which addresses,
// names and rules a container gets is decided in engine/runtime/network/.
#include "network.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/file.h>

#include <string>

namespace kiln {
namespace {

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  e.ThrowAsJavaScriptException();
}

bool ParseAddress(Napi::Env env, const std::string& text, in_addr_t& out) {
  in_addr a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
    Napi::TypeError::New(env, "not an IPv4 address: " + text).ThrowAsJavaScriptException();
    return false;
  }
  out = a.s_addr;
  return true;
}

bool ParseMac(Napi::Env env, const std::string& text, unsigned char mac[6]) {
  unsigned v[6];
  if (sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    Napi::TypeError::New(env, "not a MAC address: " + text).ThrowAsJavaScriptException();
    return false;
  }
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
  return true;
}

std::string Arg(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "";
}
unsigned ArgU32(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : 0;
}

// ensureBridge(name, mac, address, prefixLength, mtu) -> ifindex: creates the bridge (with a fixed
// MAC, so the gateway's address does not change as ports come and go) unless it exists, gives it
// the address unless it has it, and brings it up.
Napi::Value EnsureBridge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = Arg(info, 0);
  unsigned char mac[6];
  in_addr_t address;
  if (!ParseMac(env, Arg(info, 1), mac) || !ParseAddress(env, Arg(info, 2), address)) return env.Undefined();
  unsigned prefix = ArgU32(info, 3), mtu = ArgU32(info, 4);
  NetlinkRequest r;
  r.start(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg* ifi = static_cast<ifinfomsg*>(r.append(sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  r.attrString(IFLA_IFNAME, name.c_str());
  r.attr(IFLA_ADDRESS, mac, 6);
  if (mtu) r.attrU32(IFLA_MTU, mtu);
  size_t linkInfo = r.beginNest(IFLA_LINKINFO);
  r.attrString(IFLA_INFO_KIND, "bridge");
  r.endNest(linkInfo);
  if (netlinkTalk(r) < 0 && errno != EEXIST) {
    ThrowErrno(env, "create bridge " + name, errno);
    return env.Undefined();
  }
  unsigned index = if_nametoindex(name.c_str());
  if (index == 0) {
    ThrowErrno(env, "find bridge " + name, errno);
    return env.Undefined();
  }
  r.start(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg* a = static_cast<ifaddrmsg*>(r.append(sizeof(ifaddrmsg)));
  a->ifa_family = AF_INET;
  a->ifa_prefixlen = (unsigned char)prefix;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  a->ifa_index = index;
  r.attr(IFA_LOCAL, &address, 4);
  r.attr(IFA_ADDRESS, &address, 4);
  in_addr_t mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
  in_addr_t broadcast = address | ~mask;
  r.attr(IFA_BROADCAST, &broadcast, 4);
  if (netlinkTalk(r) < 0 && errno != EEXIST) {
    ThrowErrno(env, "set the address of bridge " + name, errno);
    return env.Undefined();
  }
  if (netlinkSetUp((int)index) < 0) {
    ThrowErrno(env, "bring bridge " + name + " up", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, index);
}

// createVeth(hostName, peerName, peerPid, peerMac, masterIndex, mtu): a veth pair whose host end
// is up and a port of the bridge, and whose peer is created straight in the network namespace of
// process peerPid (so its name cannot clash with the host's interfaces). Throws with errno.
Napi::Value CreateVeth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string hostName = Arg(info, 0), peerName = Arg(info, 1);
  unsigned pid = ArgU32(info, 2);
  unsigned char mac[6];
  if (!ParseMac(env, Arg(info, 3), mac)) return env.Undefined();
  unsigned master = ArgU32(info, 4), mtu = ArgU32(info, 5);
  NetlinkRequest r;
  r.start(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg* ifi = static_cast<ifinfomsg*>(r.append(sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  r.attrString(IFLA_IFNAME, hostName.c_str());
  if (mtu) r.attrU32(IFLA_MTU, mtu);
  if (master) r.attrU32(IFLA_MASTER, master);
  size_t linkInfo = r.beginNest(IFLA_LINKINFO);
  r.attrString(IFLA_INFO_KIND, "veth");
  size_t data = r.beginNest(IFLA_INFO_DATA);
  size_t peer = r.beginNest(VETH_INFO_PEER);
  ifinfomsg* peerInfo = static_cast<ifinfomsg*>(r.append(sizeof(ifinfomsg)));
  if (peerInfo) peerInfo->ifi_family = AF_UNSPEC;
  r.attrString(IFLA_IFNAME, peerName.c_str());
  r.attrU32(IFLA_NET_NS_PID, pid);
  r.attr(IFLA_ADDRESS, mac, 6);
  if (mtu) r.attrU32(IFLA_MTU, mtu);
  r.endNest(peer);
  r.endNest(data);
  r.endNest(linkInfo);
  if (netlinkTalk(r) < 0) ThrowErrno(env, "create veth pair " + hostName, errno);
  return env.Undefined();
}

// deleteLink(name) -> false when there is no such link.
Napi::Value DeleteLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = Arg(info, 0);
  NetlinkRequest r;
  r.start(RTM_DELLINK, 0);
  ifinfomsg* ifi = static_cast<ifinfomsg*>(r.append(sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  r.attrString(IFLA_IFNAME, name.c_str());
  if (netlinkTalk(r) < 0) {
    if (errno == ENODEV) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "delete link " + name, errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

// nftTableExists(family, name): one NFT_MSG_GETTABLE, instead of running nft to list it.
Napi::Value NftTableExists(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned family = ArgU32(info, 0);
  std::string name = Arg(info, 1);
  NetlinkRequest r;
  r.start((unsigned short)((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE), 0);
  nfgenmsg* g = static_cast<nfgenmsg*>(r.append(sizeof(nfgenmsg)));
  g->nfgen_family = (unsigned char)family;
  g->version = NFNETLINK_V0;
  r.attrString(NFTA_TABLE_NAME, name.c_str());
  if (netlinkTalk(r, NETLINK_NETFILTER) < 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "query nftables table " + name, errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

// reservePort(proto, address, port) -> { fd, port }: a socket bound (not listening) to the host
// port, without SO_REUSEADDR, so no other program can bind it while it is open. Port 0 takes a
// free one. Throws with errno (EADDRINUSE: taken).
Napi::Value ReservePort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string proto = Arg(info, 0);
  in_addr_t address;
  if (!ParseAddress(env, Arg(info, 1), address)) return env.Undefined();
  unsigned port = ArgU32(info, 2);
  int fd = socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return env.Undefined();
  }
  sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = address;
  sa.sin_port = htons((unsigned short)port);
  socklen_t len = sizeof(sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
    int e = errno;
    close(fd);
    ThrowErrno(env, "bind", e);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("port", Napi::Number::New(env, ntohs(sa.sin_port)));
  return out;
}

// tryLock(fd) -> true when this process now holds an exclusive flock on fd, false when another
// does. The kernel drops it when the descriptor closes, however the holder ends.
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = (int)ArgU32(info, 0);
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK || errno == EINTR) return Napi::Boolean::New(env, false);
  ThrowErrno(env, "flock", errno);
  return env.Undefined();
}

}  // namespace

void RegisterNetworkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("ensureBridge", Napi::Function::New(env, EnsureBridge));
  exports.Set("createVeth", Napi::Function::New(env, CreateVeth));
  exports.Set("deleteLink", Napi::Function::New(env, DeleteLink));
  exports.Set("nftTableExists", Napi::Function::New(env, NftTableExists));
  exports.Set("reservePort", Napi::Function::New(env, ReservePort));
  exports.Set("tryLock", Napi::Function::New(env, TryLock));
}

bool ReadNetworkSpec(Napi::Env env, const Napi::Object& spec, NetworkSpec& out) {
  Napi::Value v = spec.Get("network");
  if (!v.IsObject()) return true;
  Napi::Object n = v.As<Napi::Object>();
  Napi::Value join = n.Get("joinNetnsFd");
  if (join.IsNumber()) out.joinNetnsFd = join.As<Napi::Number>().Int32Value();
  Napi::Value iface = n.Get("interface");
  if (iface.IsObject()) {
    Napi::Object i = iface.As<Napi::Object>();
    out.interfaceName = i.Get("name").As<Napi::String>().Utf8Value();
    if (!ParseAddress(env, i.Get("address").As<Napi::String>().Utf8Value(), out.address)) return false;
    out.prefixLength = i.Get("prefixLength").As<Napi::Number>().Int32Value();
    Napi::Value gw = i.Get("gateway");
    if (gw.IsString() && !ParseAddress(env, gw.As<Napi::String>().Utf8Value(), out.gateway)) return false;
  }
  Napi::Value sysctls = n.Get("sysctls");
  if (sysctls.IsArray()) {
    Napi::Array a = sysctls.As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Object s = a.Get(k).As<Napi::Object>();
      out.sysctls.push_back({s.Get("path").As<Napi::String>().Utf8Value(), s.Get("value").As<Napi::String>().Utf8Value()});
    }
  }
  return true;
}

}  // namespace kiln
