/**
 * A container on a kiln bridge (kiln0, or a user-defined network): under the host lock, the
 * sweep of what dead kilns left, the network made ready, an address allocated (the endpoint
 * record, owned by this process), the /etc files written (and peers' hosts files updated on a
 * user network); while the child is gated, the veth pair and the published ports' rules; at the
 * end, all of it undone but the veth pair, which the kernel removes with the namespace.
 */
import { nativeBinding } from '../../../native/index.js';
import { randomHex } from '../../host/randomHex.js';
import { allocateEndpoint, listEndpoints, removeEndpointRecord, type EndpointRecord } from './endpoints.js';
import { portRules, sweepDeadEndpoints, teardownEndpoint } from './endpointTeardown.js';
import { addPorts } from './firewall.js';
import { currentOwner, ownerAlive, withHostLock } from './hostState.js';
import { refreshPeers } from './hostsPeers.js';
import { macForAddress, parseAddress, parseSubnet, type Subnet } from './ipv4.js';
import { DEFAULT_BRIDGE } from './networkMode.js';
import { OWN_NAMESPACE_SYSCTLS, writeEtcFiles, type EtcPaths, type NetworkContext, type NetworkRequest, type PreparedNetwork } from './networkRequest.js';
import { readyNetwork, type ReadyNetwork } from './networkSetup.js';
import { reservePorts, type PortReservations } from './ports.js';

const CONTAINER_INTERFACE = 'eth0';
const MTU = 1500;

interface Joined { endpoint: EndpointRecord; bridgeIndex: number; subnet: Subnet; gateway: string }

/**
 * What dead kilns left is swept, and the default bridge made ready, once per process: a build's
 * RUN steps of parallel stages join it one after another under the host lock, and each join
 * held the lock (and made the next stage's step wait) for work the first had done.
 */
let sweptDeadEndpoints = false;
let defaultBridge: ReadyNetwork | undefined;

async function readyToJoin(name: string): Promise<ReadyNetwork> {
  if (!sweptDeadEndpoints) {
    await sweepDeadEndpoints();
    sweptDeadEndpoints = true;
  }
  if (name !== DEFAULT_BRIDGE) return readyNetwork(name);
  return (defaultBridge ??= await readyNetwork(name));
}

/** Under the host lock: the endpoint and the /etc files; nothing is left if a step fails. */
async function join(name: string, req: NetworkRequest, ctx: NetworkContext, etc: EtcPaths, reservations: PortReservations): Promise<Joined> {
  return withHostLock(async () => {
    const { net, bridgeIndex } = await readyToJoin(name);
    const userNetwork = name !== DEFAULT_BRIDGE;
    const endpoint = allocateEndpoint(net, {
      containerId: ctx.containerId,
      names: [...new Set([...(req.aliases ?? []), ctx.containerId.slice(0, 12)])],
      veth: `kv${randomHex(6)}`,
      ...(userNetwork ? { hostsFile: etc.hosts } : {}),
      ports: reservations.bindings,
      owner: currentOwner(),
    });
    try {
      writeEtcFiles(etc, 'own', req, ctx, { address: endpoint.address, gateway: net.gateway });
      if (userNetwork) refreshPeers(name, listEndpoints(name).filter((e) => ownerAlive(e.owner)));
    } catch (err) {
      removeEndpointRecord(endpoint);
      throw err;
    }
    return { endpoint, bridgeIndex, subnet: parseSubnet(net.subnet) as Subnet, gateway: net.gateway };
  });
}

export async function attachToBridge(name: string, req: NetworkRequest, ctx: NetworkContext, etc: EtcPaths): Promise<PreparedNetwork> {
  const reservations = reservePorts(req.ports ?? []);
  let joined: Joined;
  try {
    joined = await join(name, req, ctx, etc, reservations);
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
      try {
        nativeBinding().createVeth(endpoint.veth, CONTAINER_INTERFACE, pid, mac, bridgeIndex, MTU);
      } catch (err) {
        defaultBridge = undefined; // the bridge went since this process readied it: the next join makes it again
        throw err;
      }
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
