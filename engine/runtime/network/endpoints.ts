/**
 * A container's place on a kiln network: one record per allocated address, host-wide, under
 * endpoints/<network>/<address>.json. The file's exclusive creation is the allocation (two
 * kilns can never take one address); it names its owner (pid + start time), the host end of
 * the veth pair, the published ports and the container's /etc/hosts, which is everything a
 * sweep needs to undo it once the owner is verifiably gone.
 */
import { closeSync, openSync, readdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors/kilnError.js';
import { stateDir, type Owner } from './hostState.js';
import { formatAddress, hostAddress, hostCount, parseSubnet, type Subnet } from './ipv4.js';
import type { NetworkRecord } from './networks.js';
import type { PortBinding } from './ports.js';

export interface EndpointRecord {
  network: string;
  address: string;
  containerId: string;
  /** What other containers on a user-defined network resolve to this address. */
  names: string[];
  /** The host end of the veth pair. */
  veth: string;
  /** The container's /etc/hosts (a file kiln bind-mounted), kept up to date with its peers. */
  hostsFile?: string;
  ports: PortBinding[];
  owner: Owner;
  created: string;
}

function networkDir(network: string): string {
  return stateDir('endpoints', network);
}

function readRecord(path: string): EndpointRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as EndpointRecord;
  } catch {
    return undefined; // being written right now, or gone
  }
}

/** The paths of the records of one network, or of every network. */
function recordPaths(network?: string): string[] {
  const networks = network !== undefined ? [network] : readdirSync(stateDir('endpoints'));
  const out: string[] = [];
  for (const n of networks) {
    let files: string[];
    try {
      files = readdirSync(networkDir(n));
    } catch {
      continue;
    }
    for (const f of files) if (f.endsWith('.json')) out.push(join(networkDir(n), f)); // not the allocation cursor
  }
  return out;
}

export function listEndpoints(network?: string): EndpointRecord[] {
  return recordPaths(network).map(readRecord).filter((rec): rec is EndpointRecord => rec !== undefined);
}

const CURSOR = 'next';

function readCursor(dir: string): number {
  try {
    return Number(readFileSync(join(dir, CURSOR), 'utf8')) || 2;
  } catch {
    return 2;
  }
}

/**
 * Takes the next free address of the network after the last one taken (the gateway is .1),
 * by creating its record exclusively. Going round instead of reusing the lowest free address
 * keeps an address away from a new container while the kernel is still tearing down the
 * namespace of the last one that had it (its interface answers for the address until then).
 * Call under the host lock (the cursor is shared).
 */
export function allocateEndpoint(net: NetworkRecord, fields: Omit<EndpointRecord, 'network' | 'address' | 'created'>): EndpointRecord {
  const subnet = parseSubnet(net.subnet) as Subnet;
  const dir = networkDir(net.name);
  const used = new Set(readdirSync(dir).map((f) => f.replace(/\.json$/, '')));
  const count = hostCount(subnet);
  const first = Math.min(Math.max(readCursor(dir), 2), count);
  for (let i = 0; i < count - 1; i++) {
    const n = 2 + ((first - 2 + i) % (count - 1));
    const address = formatAddress(hostAddress(subnet, n));
    if (used.has(address)) continue;
    const rec: EndpointRecord = { network: net.name, address, created: new Date().toISOString(), ...fields };
    let fd: number;
    try {
      fd = openSync(join(dir, `${address}.json`), 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      writeSync(fd, JSON.stringify(rec, null, 2) + '\n');
    } finally {
      closeSync(fd);
    }
    writeFileSync(join(dir, CURSOR), String(n >= count ? 2 : n + 1));
    return rec;
  }
  throw new KilnError('NETWORK_FULL', `no free address left on network "${net.name}" (${net.subnet})`, { exitCode: 125 });
}

/**
 * Every record, read once, for a sweep; those no one can read are removed on the way: a kiln
 * killed between creating its record (the address's allocation) and writing it left it empty,
 * and an empty record holds its address forever. Records are created and written under the
 * host lock, which the caller holds: none found unreadable then is still being written.
 */
export function sweepableEndpoints(): { records: EndpointRecord[]; removed: number } {
  const records: EndpointRecord[] = [];
  let removed = 0;
  for (const path of recordPaths()) {
    const rec = readRecord(path);
    if (rec !== undefined) {
      records.push(rec);
      continue;
    }
    try {
      unlinkSync(path);
      removed++;
    } catch {
      // gone meanwhile
    }
  }
  return { records, removed };
}

export function removeEndpointRecord(rec: EndpointRecord): void {
  try {
    unlinkSync(join(networkDir(rec.network), `${rec.address}.json`));
  } catch {
    // swept already
  }
}

/** Drops the (empty) endpoint directory of a network being removed. */
export function removeEndpointDir(network: string): void {
  try {
    rmdirSync(networkDir(network));
  } catch {
    // not empty, or gone
  }
}
