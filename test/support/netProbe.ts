/**
 * A static C program the hostile network tests bind into a container (busybox has no packet
 * socket or abstract unix socket client): compiled once per test process with the system's gcc.
 *
 *   probe capture MARKER SENTINEL_IP SENTINEL_PORT
 *       an AF_PACKET socket on every interface it can see; prints "ready", waits for a line on
 *       stdin, sends a UDP datagram "SENTINEL" to SENTINEL_IP:SENTINEL_PORT, reads until it sees
 *       that datagram, prints "seen N marked M" (M: packets holding MARKER)
 *   probe abstract NAME
 *       connects to the abstract unix socket NAME; prints "connected" or "error ERRNO"
 *   probe udp-receive PORT
 *       binds UDP PORT, prints "listening", then "received TEXT" for the first datagram
 *   probe spoof DST_MAC SRC_IP PORT SENTINEL_IP SENTINEL_PORT
 *       sends, as a raw frame out eth0 to DST_MAC, a UDP datagram "SPOOF" from SRC_IP to
 *       127.0.0.1:PORT, then an ordinary one "SENTINEL" to SENTINEL_IP:SENTINEL_PORT
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from './env.js';

const SOURCE = String.raw`
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void sendUdp(const char* ip, int port, const char* text) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
  if (sendto(s, text, strlen(text), 0, (struct sockaddr*)&a, sizeof a) < 0) { printf("sendto error %d\n", errno); exit(2); }
  close(s);
}

static int contains(const unsigned char* buf, int n, const char* s) {
  int k = strlen(s);
  for (int i = 0; i + k <= n; i++) if (memcmp(buf + i, s, k) == 0) return 1;
  return 0;
}

static int capture(const char* marker, const char* ip, int port) {
  int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (s < 0) { printf("error %d\n", errno); return 1; }
  printf("ready\n"); fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return 1;
  sendUdp(ip, port, "SENTINEL");
  unsigned char buf[65536];
  int seen = 0, marked = 0;
  for (;;) {
    int n = recv(s, buf, sizeof buf, 0);
    if (n < 0) { printf("error %d\n", errno); return 1; }
    seen++;
    if (contains(buf, n, marker)) marked++;
    if (contains(buf, n, "SENTINEL")) break;
  }
  printf("seen %d marked %d\n", seen, marked);
  return 0;
}

static int abstractConnect(const char* name) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX;
  size_t n = strlen(name);
  memcpy(a.sun_path + 1, name, n);
  // The whole sun_path, zero-padded: the name node and libuv give an abstract socket.
  if (connect(s, (struct sockaddr*)&a, sizeof a) == 0) printf("connected\n");
  else printf("error %d\n", errno);
  return 0;
}

static unsigned short checksum(const void* data, int len) {
  const unsigned short* p = data; unsigned long sum = 0;
  for (; len > 1; len -= 2) sum += *p++;
  if (len) sum += *(const unsigned char*)p;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (unsigned short)~sum;
}

static int spoof(const char* mac, const char* src, int port, const char* sip, int sport) {
  int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
  if (s < 0) { printf("error %d\n", errno); return 1; }
  unsigned char frame[128] = {0};
  unsigned m[6];
  sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
  for (int i = 0; i < 6; i++) frame[i] = m[i];
  struct ifreq ifr = {0};  // the source: eth0's own MAC (a bridge drops a frame from 00:00:00:00:00:00)
  strcpy(ifr.ifr_name, "eth0");
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) { printf("error %d\n", errno); return 1; }
  memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
  frame[12] = 0x08; frame[13] = 0x00;
  struct iphdr* ip = (struct iphdr*)(frame + 14);
  struct udphdr* udp = (struct udphdr*)(frame + 14 + sizeof *ip);
  const char* payload = "SPOOF";
  int plen = 5;
  memcpy((char*)udp + sizeof *udp, payload, plen);
  udp->source = htons(40000); udp->dest = htons(port); udp->len = htons(sizeof *udp + plen); udp->check = 0;
  ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(sizeof *ip + sizeof *udp + plen);
  inet_pton(AF_INET, src, &ip->saddr); inet_pton(AF_INET, "127.0.0.1", &ip->daddr);
  ip->check = checksum(ip, sizeof *ip);
  struct sockaddr_ll to = {0};
  to.sll_family = AF_PACKET; to.sll_ifindex = if_nametoindex("eth0"); to.sll_halen = 6;
  memcpy(to.sll_addr, frame, 6);
  int len = 14 + sizeof *ip + sizeof *udp + plen;
  if (sendto(s, frame, len, 0, (struct sockaddr*)&to, sizeof to) != len) { printf("error %d\n", errno); return 1; }
  sendUdp(sip, sport, "SENTINEL");
  printf("sent\n");
  return 0;
}

static int udpReceive(int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port);
  if (bind(s, (struct sockaddr*)&a, sizeof a) < 0) { printf("error %d\n", errno); return 1; }
  printf("listening\n"); fflush(stdout);
  char buf[2048];
  int n = recv(s, buf, sizeof buf - 1, 0);
  if (n < 0) { printf("error %d\n", errno); return 1; }
  buf[n] = 0;
  printf("received %s\n", buf);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && !strcmp(argv[1], "capture")) return capture(argv[2], argv[3], atoi(argv[4]));
  if (argc == 3 && !strcmp(argv[1], "abstract")) return abstractConnect(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "udp-receive")) return udpReceive(atoi(argv[2]));
  if (argc == 7 && !strcmp(argv[1], "spoof")) return spoof(argv[2], argv[3], atoi(argv[4]), argv[5], atoi(argv[6]));
  fprintf(stderr, "usage: probe capture|abstract|udp-receive|spoof ...\n");
  return 2;
}
`;

export const haveCompiler = hasCommand('gcc');

let built: { dir: string; path: string } | undefined;

/** The probe's path (built on first use); remove it with removeNetProbe(). */
export function netProbe(): string {
  if (built) return built.path;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-netprobe-'));
  writeFileSync(join(dir, 'probe.c'), SOURCE);
  execFileSync('gcc', ['-static', '-O1', '-o', join(dir, 'probe'), join(dir, 'probe.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  built = { dir, path: join(dir, 'probe') };
  return built.path;
}

export function removeNetProbe(): void {
  if (built) rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
}
