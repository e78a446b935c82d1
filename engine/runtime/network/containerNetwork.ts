/**
 * A container's network as one unit, for whoever holds the container (the foreground `kiln run`,
 * a RUN step, a detached container's supervisor): `prepareNetwork` before the child is started
 * (addresses, published ports, the /etc files), `attach(pid)` while the child waits at its gate
 * (the veth pair into its namespace, the port rules), `release()` when it has ended. The holder
 * becomes the owner of what is allocated; if it is killed, the next kiln sweeps it.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBinding, type NativeNetworkSpec } from '../../../native/index.js';
import { KilnError } from '../../errors.js';
import { randomHex } from '../../lazyCrypto.js';
import { allocateEndpoint, listEndpoints, type EndpointRecord } from './endpoints.js';
import { portRules, sweepDeadEndpoints, teardownEndpoint } from './endpointTeardown.js';
import { hostnameFileContent, hostsFileContent, resolvConfContent, type EtcMode, type HostEntry } from './etcFiles.js';
import { addPorts } from './firewall.js';
import { currentOwner, ownerAlive, withHostLock } from './hostState.js';
import { refreshPeers } from './hostsPeers.js';
import { macForAddress, parseAddress, parseSubnet, type Subnet } from './ipv4.js';
import { DEFAULT_BRIDGE, type NetworkMode } from './networkMode.js';
import { readyNetwork } from './networkSetup.js';
import { privilege } from '../privilege.js';
import { SLIRP_ADDRESS, SLIRP_DNS, SLIRP_GATEWAY, slirpProgram, startSlirp, type Slirp } from './slirp.js';
import { reservePorts, type PortBinding, type PortRequest } from './ports.js';

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
  /** What the child does to its network before anything else (native/src/childNetwork.cc). */
  readonly native?: NativeNetworkSpec;
  readonly etc: EtcPaths;
  /** The container's address on its bridge network. */
  readonly address?: string;
  readonly ports: readonly PortBinding[];
  /** Connects the (gated) child; throws when it cannot. */
  attach(pid: number): Promise<void>;
  /** Undoes everything; safe to call more than once, and after a failed attach. */
  release(): Promise<void>;
}

/** docker's sysctls for a container with a network namespace of its own: ping without privilege, any port. */
const OWN_NAMESPACE_SYSCTLS = [
  { path: '/proc/sys/net/ipv4/ping_group_range', value: '0 2147483647' },
  { path: '/proc/sys/net/ipv4/ip_unprivileged_port_start', value: '0' },
];

const HOST_GATEWAY = 'host-gateway';
const CONTAINER_INTERFACE = 'eth0';
const MTU = 1500;

function etcPaths(dir: string): EtcPaths {
  return { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') };
}

function extraHosts(req: NetworkRequest, gateway: string): HostEntry[] {
  return (req.extraHosts ?? []).map((h) => (h.address === HOST_GATEWAY ? { ...h, address: gateway } : h));
}

function writeEtc(etc: EtcPaths, mode: EtcMode, req: NetworkRequest, ctx: NetworkContext, address: string | undefined, gateway: string, resolver?: string): void {
  writeFileSync(etc.hosts, hostsFileContent(mode, { hostname: ctx.hostname, ...(address ? { address } : {}), extraHosts: extraHosts(req, gateway) }));
  writeFileSync(etc.hostname, hostnameFileContent(ctx.hostname));
  writeFileSync(etc.resolvConf, resolvConfContent(mode, {
    ...(req.dns ? { dns: req.dns } : {}), ...(req.dnsSearch ? { dnsSearch: req.dnsSearch } : {}), ...(req.dnsOptions ? { dnsOptions: req.dnsOptions } : {}),
    ...(resolver ? { loopbackReplacement: [resolver] } : {}),
  }));
}

const nothingToDo = async (): Promise<void> => {};

export async function prepareNetwork(request: NetworkRequest | NetworkMode, ctx: NetworkContext): Promise<PreparedNetwork> {
  const req: NetworkRequest = typeof request === 'object' && 'mode' in request ? request : { mode: request };
  const etc = etcPaths(ctx.etcDir);
  const mode = req.mode;
  if (mode === 'host' || mode === 'none') {
    writeEtc(etc, mode, req, ctx, undefined, '127.0.0.1');
    return {
      newNamespace: mode === 'none', etc, ports: [], attach: nothingToDo, release: nothingToDo,
      ...(mode === 'none' ? { native: { sysctls: OWN_NAMESPACE_SYSCTLS } } : {}),
    };
  }
  if (typeof mode === 'object' && 'container' in mode) return joinContainer(mode.container, etc);
  if (privilege() !== 'host-root') {
    if (mode !== 'bridge') throw new KilnError('ROOTLESS_NETWORK', `network ${mode.network}: user-defined networks need root (rootless containers get slirp4netns)`, { exitCode: 125 });
    return prepareSlirp(req, ctx, etc);
  }
  return prepareBridge(mode === 'bridge' ? DEFAULT_BRIDGE : mode.network, req, ctx, etc);
}

/** `--network container:NAME`: its namespace, and copies of its hosts and resolv.conf (as docker shares them). */
function joinContainer(pid: number, etc: EtcPaths): PreparedNetwork {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/ns/net`, 'r');
  } catch {
    throw new KilnError('CONTAINER_NOT_RUNNING', 'cannot join the network of a container that is not running', { exitCode: 125 });
  }
  const copy = (from: string, to: string): void => {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/root/etc/${from}`, 'utf8').slice(0, 64 * 1024);
    } catch {
      // the other container removed its file: an empty one
    }
    writeFileSync(to, text);
  };
  copy('hosts', etc.hosts);
  copy('hostname', etc.hostname);
  copy('resolv.conf', etc.resolvConf);
  let open = true;
  const close = async (): Promise<void> => {
    if (open) closeSync(fd);
    open = false;
  };
  return { newNamespace: false, native: { joinNetnsFd: fd }, etc, ports: [], attach: nothingToDo, release: close };
}

async function prepareBridge(name: string, req: NetworkRequest, ctx: NetworkContext, etc: EtcPaths): Promise<PreparedNetwork> {
  const reservations = reservePorts(req.ports ?? []);
  let joined: { endpoint: EndpointRecord; bridgeIndex: number; subnet: Subnet; gateway: string };
  try {
    joined = await withHostLock(async () => {
      await sweepDeadEndpoints();
      const { net, bridgeIndex } = await readyNetwork(name);
      const userNetwork = name !== DEFAULT_BRIDGE;
      const endpoint = allocateEndpoint(net, {
        containerId: ctx.containerId,
        names: [...new Set([...(req.aliases ?? []), ctx.containerId.slice(0, 12)])],
        veth: `kv${randomHex(6)}`,
        ...(userNetwork ? { hostsFile: etc.hosts } : {}),
        ports: reservations.bindings,
        owner: currentOwner(),
      });
      writeEtc(etc, 'own', req, ctx, endpoint.address, net.gateway);
      if (userNetwork) refreshPeers(name, listEndpoints(name).filter((e) => ownerAlive(e.owner)));
      return { endpoint, bridgeIndex, subnet: parseSubnet(net.subnet) as Subnet, gateway: net.gateway };
    });
  } catch (err) {
    reservations.close();
    throw err;
  }
  const { endpoint, bridgeIndex, subnet, gateway } = joined;
  let released = false;
  return {
    newNamespace: true,
    native: {
      interface: { name: CONTAINER_INTERFACE, address: endpoint.address, prefixLength: subnet.prefixLength, gateway },
      sysctls: OWN_NAMESPACE_SYSCTLS,
    },
    etc,
    address: endpoint.address,
    ports: reservations.bindings,
    attach: async (pid) => {
      const mac = macForAddress(parseAddress(endpoint.address) as number);
      nativeBinding().createVeth(endpoint.veth, CONTAINER_INTERFACE, pid, mac, bridgeIndex, MTU);
      await addPorts(portRules(endpoint));
    },
    release: async () => {
      if (released) return;
      released = true;
      try {
        await withHostLock(() => teardownEndpoint(endpoint, false));
      } finally {
        reservations.close();
      }
    },
  };
}

let toldNoSlirp = false;

/**
 * Rootless: a namespace of its own served by slirp4netns. The host ports are checked (and free
 * ones picked for -P) by binding them here, then handed to slirp4netns, which listens on them.
 * Without slirp4netns the container shares kiln's network, as rootless BuildKit's default does,
 * and kiln says so once.
 */
function prepareSlirp(req: NetworkRequest, ctx: NetworkContext, etc: EtcPaths): Promise<PreparedNetwork> | PreparedNetwork {
  const program = slirpProgram();
  if (!program) {
    if (!toldNoSlirp) process.stderr.write("kiln: slirp4netns is not installed (Debian package slirp4netns): rootless containers share the host's network\n");
    toldNoSlirp = true;
    return prepareNetwork({ ...req, mode: 'host' }, ctx);
  }
  const reservations = reservePorts(req.ports ?? []);
  reservations.close();
  const ports = reservations.bindings;
  writeEtc(etc, 'own', req, ctx, SLIRP_ADDRESS, SLIRP_GATEWAY, SLIRP_DNS);
  let slirp: Slirp | undefined;
  return {
    newNamespace: true,
    native: { sysctls: OWN_NAMESPACE_SYSCTLS },
    etc,
    address: SLIRP_ADDRESS,
    ports,
    attach: async (pid) => { slirp = await startSlirp(program, pid, join(ctx.etcDir, 'slirp.sock'), ports); },
    release: async () => {
      const s = slirp;
      slirp = undefined;
      await s?.close();
    },
  };
}
