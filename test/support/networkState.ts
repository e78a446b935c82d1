/**
 * What kiln's networks leave on the host, as tests check it: a container's endpoint record
 * (host-wide, under /run/kiln/network), its veth link, its published ports in kiln's nftables
 * maps. Other test runs use the same host at the same time: every check is about one
 * container's own things, never "the network is empty".
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const NETWORK_STATE = '/run/kiln/network';

export interface EndpointOnDisk {
  network: string;
  address: string;
  containerId: string;
  names: string[];
  veth: string;
  ports: { proto: string; hostIp: string; hostPort: number; containerPort: number }[];
  owner: { pid: number; start: string };
}

/** Every endpoint record on the host (any store, any test run). */
export function allEndpoints(): EndpointOnDisk[] {
  const dir = join(NETWORK_STATE, 'endpoints');
  if (!existsSync(dir)) return [];
  const out: EndpointOnDisk[] = [];
  for (const net of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, net))) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(dir, net, f), 'utf8')) as EndpointOnDisk);
      } catch {
        // being written or removed by another kiln
      }
    }
  }
  return out;
}

export function endpointsOf(containerIdPrefix: string): EndpointOnDisk[] {
  return allEndpoints().filter((e) => e.containerId.startsWith(containerIdPrefix));
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The text of one of kiln's nftables maps ('' when the table is not there). */
export function nftMap(map: string): string {
  try {
    return execFileSync('nft', ['list', 'map', 'ip', 'kiln', map], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** Whether any of kiln's port maps still maps this host port. */
export function portRuleExists(hostPort: number): boolean {
  return ['tcp_any', 'tcp_addr', 'udp_any', 'udp_addr'].some((m) => new RegExp(`(^|[\\s{,.])${hostPort} :`).test(nftMap(m)));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (the kernel removes a dead namespace's links on its own time); the test's timeout bounds it. */
export async function until(cond: () => boolean): Promise<void> {
  for (let wait = 5; !cond(); wait = Math.min(wait * 2, 200)) await sleep(wait);
}

// bench/ publishes ports too: the one implementation is in harness/.
export { freePort } from '../../harness/freePort.js';
