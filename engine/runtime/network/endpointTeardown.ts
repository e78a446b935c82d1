/**
 * Undoing an endpoint: the veth pair, the published ports' rules, the record, and the container's name in its peers' hosts
 * files. Run by the endpoint's owner when the container ends, and by the next kiln that finds
 * the owner verifiably dead (a kill -9 skips every `finally`). Callers hold the host lock.
 */
import { nativeBinding } from '../../../native/index.js';
import { listEndpoints, removeEndpointRecord, sweepableEndpoints, type EndpointRecord } from './endpoints.js';
import { removePorts, type PortRule } from './firewall.js';
import { ownerAlive } from './hostState.js';
import { refreshPeers } from './hostsPeers.js';
import { DEFAULT_BRIDGE } from './networkMode.js';

export function portRules(rec: EndpointRecord): PortRule[] {
  return rec.ports.map((p) => ({ ...p, containerIp: rec.address }));
}

export function deleteLinkQuietly(name: string): void {
  try {
    nativeBinding().deleteLink(name);
  } catch {
    // the namespace holding its peer is being torn down right now: the kernel removes both
  }
}

/**
 * The owner leaves the veth pair to the kernel, which removes it with the container's network
 * namespace (deleting a link waits for an RCU grace period, ~20 ms, on every container's exit);
 * a sweep removes it in case that namespace is still held somewhere.
 */
export async function teardownEndpoint(rec: EndpointRecord, deleteLink: boolean): Promise<void> {
  if (deleteLink) deleteLinkQuietly(rec.veth);
  await removePorts(portRules(rec));
  removeEndpointRecord(rec);
  if (rec.network !== DEFAULT_BRIDGE) refreshPeers(rec.network, listEndpoints(rec.network).filter((e) => ownerAlive(e.owner)));
}

/** Tears down the endpoints whose owners are gone (and records a killed writer left unreadable); returns how many. */
export async function sweepDeadEndpoints(): Promise<number> {
  const { records, removed } = sweepableEndpoints();
  let swept = removed;
  for (const rec of records) {
    if (ownerAlive(rec.owner)) continue;
    await teardownEndpoint(rec, true);
    swept++;
  }
  return swept;
}
