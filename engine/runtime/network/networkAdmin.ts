/**
 * What `kiln network ls|create|rm` and `kiln system reset` do to kiln's host-wide networks, each
 * under the host lock and after sweeping what dead kilns left: a network is removed only when no
 * live container is on it; a reset only when none is on any.
 */
import { rmSync } from 'node:fs';
import { KilnError } from '../../errors/kilnError.js';
import { listEndpoints } from './endpoints.js';
import { deleteLinkQuietly, sweepDeadEndpoints } from './endpointTeardown.js';
import { deleteTable, removeNetwork } from './firewall.js';
import { NETWORK_STATE_DIR, ownerAlive, stateDir, withHostLock } from './hostState.js';
import { DEFAULT_BRIDGE, checkNetworkName } from './networkMode.js';
import { createNetwork, firewallNetwork } from './networkSetup.js';
import { listNetworks, readNetwork, removeNetworkRecord, type NetworkRecord } from './networks.js';
import { parseSubnet, type Subnet } from './ipv4.js';
import { subnetConflict } from './networks.js';
import { join } from 'node:path';

export function networksAfterSweep(): Promise<NetworkRecord[]> {
  return withHostLock(async () => {
    await sweepDeadEndpoints();
    return listNetworks();
  });
}

export function createUserNetwork(name: string, subnetText?: string): Promise<NetworkRecord> {
  checkNetworkName(name);
  let subnet: Subnet | undefined;
  if (subnetText !== undefined) {
    subnet = parseSubnet(subnetText);
    if (!subnet) throw new KilnError('USAGE', `invalid subnet ${subnetText}: expected an IPv4 network such as 10.100.7.0/24`, { exitCode: 1 });
    if (subnet.prefixLength > 30) throw new KilnError('USAGE', `invalid subnet ${subnetText}: a /30 or larger is needed`, { exitCode: 1 });
  }
  return withHostLock(async () => {
    if (subnet) {
      const conflict = subnetConflict(subnet);
      if (conflict) throw new KilnError('NETWORK_SUBNET', `invalid subnet ${subnetText}: ${conflict}`, { exitCode: 1 });
    }
    return createNetwork(name, subnet);
  });
}

function liveOn(name: string): number {
  return listEndpoints(name).filter((e) => ownerAlive(e.owner)).length;
}

export function removeUserNetwork(name: string): Promise<void> {
  if (name === DEFAULT_BRIDGE || name === 'host' || name === 'none') {
    throw new KilnError('NETWORK_PREDEFINED', `${name} is a pre-defined network and cannot be removed`, { exitCode: 1 });
  }
  return withHostLock(async () => {
    await sweepDeadEndpoints();
    const net = readNetwork(name);
    if (!net) throw new KilnError('NETWORK_NOT_FOUND', `network ${name} not found`, { exitCode: 1 });
    if (liveOn(name) > 0) throw new KilnError('NETWORK_IN_USE', `error while removing network: network ${name} id ${net.id} has active endpoints`, { exitCode: 1 });
    await removeNetwork(firewallNetwork(net));
    deleteLinkQuietly(net.bridge);
    rmSync(join(stateDir('endpoints'), name), { recursive: true, force: true });
    removeNetworkRecord(name);
  });
}

/** Everything kiln added to the host's network: its table, its bridges, its records. */
export function resetNetworks(): Promise<{ networks: number }> {
  return withHostLock(async () => {
    await sweepDeadEndpoints();
    const live = listEndpoints().filter((e) => ownerAlive(e.owner));
    if (live.length > 0) {
      throw new KilnError('NETWORK_IN_USE', `${live.length} running container(s) are on kiln networks (${[...new Set(live.map((e) => e.network))].join(', ')}): stop them first`, { exitCode: 1 });
    }
    const networks = listNetworks();
    await deleteTable();
    for (const net of networks) deleteLinkQuietly(net.bridge);
    for (const entry of ['networks', 'endpoints']) rmSync(join(NETWORK_STATE_DIR, entry), { recursive: true, force: true });
    return { networks: networks.length };
  });
}
