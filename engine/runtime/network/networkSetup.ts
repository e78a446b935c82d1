/**
 * Making a kiln network ready for a container or for `kiln network create`: its record (kiln0's
 * is made on first use), its bridge link, and kiln's nftables table with the network in it.
 * Callers hold the host lock.
 */
import { KilnError } from '../../errors/kilnError.js';
import { listEndpoints } from './endpoints.js';
import { deleteLinkQuietly, portRules } from './endpointTeardown.js';
import { addNetwork, rebuildTable, tableExists, type FirewallNetwork } from './firewall.js';
import { ownerAlive } from './hostState.js';
import type { Subnet } from './ipv4.js';
import { DEFAULT_BRIDGE } from './networkMode.js';
import { createNetworkRecord, ensureBridge, listNetworks, readNetwork, removeNetworkRecord, type NetworkRecord } from './networks.js';

const firewallNetwork = (n: NetworkRecord): FirewallNetwork => ({ bridge: n.bridge, subnet: n.subnet });

/** Makes kiln's table from the host state when it is missing (first use, a reboot, a flushed ruleset). */
async function ensureTable(): Promise<boolean> {
  if (tableExists()) return false;
  const ports = listEndpoints().filter((e) => ownerAlive(e.owner)).flatMap(portRules);
  await rebuildTable(listNetworks().map(firewallNetwork), ports);
  return true;
}

export interface ReadyNetwork {
  net: NetworkRecord;
  bridgeIndex: number;
}

export async function readyNetwork(name: string): Promise<ReadyNetwork> {
  let net = readNetwork(name);
  let fresh = false;
  if (!net) {
    if (name !== DEFAULT_BRIDGE) throw new KilnError('NETWORK_NOT_FOUND', `network ${name} not found`, { exitCode: 125 });
    net = createNetworkRecord(name);
    fresh = true;
  }
  const bridgeIndex = ensureBridge(net);
  if (!(await ensureTable()) && fresh) await addNetwork(firewallNetwork(net));
  return { net, bridgeIndex };
}

/** `kiln network create`: a new record, its link and its elements in kiln's table. */
export async function createNetwork(name: string, subnet?: Subnet): Promise<NetworkRecord> {
  if (name === DEFAULT_BRIDGE || name === 'host' || name === 'none' || name === 'default') {
    throw new KilnError('NETWORK_EXISTS', `network with name ${name} already exists`, { exitCode: 1 });
  }
  if (readNetwork(name)) throw new KilnError('NETWORK_EXISTS', `network with name ${name} already exists`, { exitCode: 1 });
  const net = createNetworkRecord(name, subnet);
  try {
    ensureBridge(net);
    if (!(await ensureTable())) await addNetwork(firewallNetwork(net));
  } catch (err) {
    removeNetworkRecord(name);
    deleteLinkQuietly(net.bridge);
    throw err;
  }
  return net;
}

export { firewallNetwork };
