/**
 * What a container's holder asks of its network, and what it gets back: the types shared by
 * the unit (containerNetwork.ts) and its three ways of attaching a container (a kiln bridge,
 * slirp4netns, another container's namespace), and the /etc files every way writes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeNetworkSpec } from '../../../native/index.js';
import { hostnameFileContent, hostsFileContent, resolvConfContent, type EtcMode, type HostEntry } from './etcFiles.js';
import type { NetworkMode } from './networkMode.js';
import type { PortBinding, PortRequest } from './ports.js';

export interface NetworkRequest {
  mode: NetworkMode;
  ports?: readonly PortRequest[];
  dns?: readonly string[];
  dnsSearch?: readonly string[];
  dnsOptions?: readonly string[];
  /** `--add-host`; the address `host-gateway` is the gateway of the container's network. */
  extraHosts?: readonly HostEntry[];
  /** What other containers on a user-defined network resolve to this one (its name, its short ID). */
  aliases?: readonly string[];
}

export interface NetworkContext {
  containerId: string;
  hostname: string;
  /** Where the hosts, hostname and resolv.conf files are written (bind-mounted into the container). */
  etcDir: string;
}

export interface EtcPaths { hosts: string; hostname: string; resolvConf: string }

export interface PreparedNetwork {
  /** Whether the child is started in a network namespace of its own. */
  readonly newNamespace: boolean;
  /** What the child does to its network (native/src/childNetwork.cc). */
  readonly native?: NativeNetworkSpec;
  readonly etc: EtcPaths;
  /** The container's address on its network. */
  readonly address?: string;
  readonly ports: readonly PortBinding[];
  /** Connects the (gated) child; throws when it cannot. */
  attach(pid: number): Promise<void>;
  /**
   * Undoes everything; safe to call more than once, and after a failed attach. `commandRan`:
   * the container's command was executed (its interface was configured), so a pooled
   * namespace may serve again (namespacePool.ts).
   */
  release(outcome?: { commandRan: boolean }): Promise<void>;
}

/** docker's sysctls for a container with a network namespace of its own: ping without privilege, any port. */
export const OWN_NAMESPACE_SYSCTLS = [
  { path: '/proc/sys/net/ipv4/ping_group_range', value: '0 2147483647' },
  { path: '/proc/sys/net/ipv4/ip_unprivileged_port_start', value: '0' },
];

const HOST_GATEWAY = 'host-gateway';

export const nothingToDo = async (): Promise<void> => {};

export function etcPaths(dir: string): EtcPaths {
  return { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') };
}

export interface EtcAddresses {
  /** The container's own address (mode 'own'). */
  address?: string;
  /** What `host-gateway` stands for. */
  gateway: string;
  /** In place of the host's loopback resolvers (slirp4netns's forwarder). */
  resolver?: string;
}

export function writeEtcFiles(etc: EtcPaths, mode: EtcMode, req: NetworkRequest, ctx: NetworkContext, at: EtcAddresses): void {
  const extraHosts = (req.extraHosts ?? []).map((h) => (h.address === HOST_GATEWAY ? { ...h, address: at.gateway } : h));
  writeFileSync(etc.hosts, hostsFileContent(mode, { hostname: ctx.hostname, ...(at.address ? { address: at.address } : {}), extraHosts }));
  writeFileSync(etc.hostname, hostnameFileContent(ctx.hostname));
  writeFileSync(etc.resolvConf, resolvConfContent(mode, {
    ...(req.dns ? { dns: req.dns } : {}), ...(req.dnsSearch ? { dnsSearch: req.dnsSearch } : {}), ...(req.dnsOptions ? { dnsOptions: req.dnsOptions } : {}),
    ...(at.resolver ? { loopbackReplacement: [at.resolver] } : {}),
  }));
}
