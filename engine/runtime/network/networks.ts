/**
 * kiln's bridge networks, host-wide: `bridge` (the kiln0 link, made on first use) and those
 * `kiln network create` makes. A record per network under the host state dir names its bridge
 * link, subnet and gateway; the link itself is (re)made whenever a container joins. A new
 * network's subnet is the first candidate that overlaps none of the host's routes and no other
 * kiln network: 10.90.0.0/16 and up for kiln0 (docker takes 172.17.0.0/16, podman 10.88.0.0/16),
 * /24s from 10.100.0.0 for user networks. Callers hold the host lock (hostState.ts).
 */
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBinding } from '../../../native/index.js';
import { KilnError } from '../../errors/kilnError.js';
import { randomHex } from '../../host/randomHex.js';
import { NETWORK_STATE_DIR, stateDir } from './hostState.js';
import { formatAddress, formatSubnet, hostAddress, hostRoutes, macForAddress, overlaps, parseSubnet, type Subnet } from './ipv4.js';
import { DEFAULT_BRIDGE } from './networkMode.js';

export interface NetworkRecord {
  name: string;
  id: string;
  /** The bridge link: kiln0 for the default network, kiln-<10 hex of the id> for others. */
  bridge: string;
  subnet: string;
  gateway: string;
  created: string;
}

export const DEFAULT_BRIDGE_LINK = 'kiln0';
const MTU = 1500;

function recordPath(name: string): string {
  return join(stateDir('networks'), `${name}.json`);
}

/** Without making the state dir (an unprivileged user may not). */
export function networkExists(name: string): boolean {
  return name === DEFAULT_BRIDGE || existsSync(join(NETWORK_STATE_DIR, 'networks', `${name}.json`));
}

export function readNetwork(name: string): NetworkRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(name), 'utf8')) as NetworkRecord;
  } catch {
    return undefined;
  }
}

export function listNetworks(): NetworkRecord[] {
  const out: NetworkRecord[] = [];
  for (const file of readdirSync(stateDir('networks'))) {
    if (!file.endsWith('.json')) continue;
    const rec = readNetwork(file.slice(0, -'.json'.length));
    if (rec) out.push(rec);
  }
  // RFC 3339 times of one shape order as strings (localeCompare's first call loads ICU's collator).
  return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
}

function writeNetwork(rec: NetworkRecord): void {
  const file = recordPath(rec.name);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

export function removeNetworkRecord(name: string): void {
  try {
    unlinkSync(recordPath(name));
  } catch {
    // already gone
  }
}

function* defaultCandidates(): Generator<Subnet> {
  for (let second = 90; second < 100; second++) yield { base: ((10 << 24) | (second << 16)) >>> 0, prefixLength: 16 };
}

function* userCandidates(): Generator<Subnet> {
  for (let second = 100; second < 128; second++) {
    for (let third = 0; third < 256; third++) yield { base: ((10 << 24) | (second << 16) | (third << 8)) >>> 0, prefixLength: 24 };
  }
}

/** Why `s` cannot be used: the route or kiln network it overlaps; undefined when free. */
export function subnetConflict(s: Subnet, routes: readonly Subnet[] = hostRoutes(), networks: readonly NetworkRecord[] = listNetworks()): string | undefined {
  const route = routes.find((r) => r.prefixLength > 0 && overlaps(r, s));
  if (route) return `it overlaps the host's route to ${formatSubnet(route)}`;
  const net = networks.find((n) => overlaps(parseSubnet(n.subnet) as Subnet, s));
  if (net) return `it overlaps kiln network "${net.name}" (${net.subnet})`;
  return undefined;
}

function chooseSubnet(candidates: Iterable<Subnet>): Subnet {
  const routes = hostRoutes();
  const networks = listNetworks();
  for (const c of candidates) if (subnetConflict(c, routes, networks) === undefined) return c;
  throw new KilnError('NETWORK_SUBNET', 'no free subnet for a kiln network: every candidate overlaps a route of this host or another kiln network');
}

/** Makes the record of a network (its link is made by ensureBridge). */
export function createNetworkRecord(name: string, subnet?: Subnet): NetworkRecord {
  const chosen = subnet ?? chooseSubnet(name === DEFAULT_BRIDGE ? defaultCandidates() : userCandidates());
  const id = randomHex(32);
  const rec: NetworkRecord = {
    name,
    id,
    bridge: name === DEFAULT_BRIDGE ? DEFAULT_BRIDGE_LINK : `kiln-${id.slice(0, 10)}`,
    subnet: formatSubnet(chosen),
    gateway: formatAddress(hostAddress(chosen, 1)),
    created: new Date().toISOString(),
  };
  writeNetwork(rec);
  return rec;
}

function writeSysctl(path: string, value: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
  } catch {
    // a kernel without it: the feature that needs it fails visibly instead
  }
}

/**
 * The network's bridge link, up, with the gateway address; forwarding on; route_localnet on the
 * bridge, so a port published on 127.0.0.1 can be forwarded to a container (kiln's table drops
 * anything else addressed to 127.0.0.0/8 that arrives on the bridge). Returns its ifindex.
 */
export function ensureBridge(rec: NetworkRecord): number {
  const s = parseSubnet(rec.subnet) as Subnet;
  const gateway = hostAddress(s, 1);
  const index = nativeBinding().ensureBridge(rec.bridge, macForAddress(gateway), rec.gateway, s.prefixLength, MTU);
  writeSysctl('/proc/sys/net/ipv4/ip_forward', '1');
  writeSysctl(`/proc/sys/net/ipv4/conf/${rec.bridge}/route_localnet`, '1');
  return index;
}

export function bridgeExists(rec: NetworkRecord): boolean {
  return existsSync(`/sys/class/net/${rec.bridge}`);
}
