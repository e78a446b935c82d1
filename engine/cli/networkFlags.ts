/**
 * `kiln run`'s network flags turned into the runtime's network request, with docker's meanings
 * and refusals: `--network`, `-p`/`-P`/`--expose`, `--dns*`, `--add-host`, and the options a
 * `container:` network shares with the other container (so may not be given).
 */
import { readFileSync } from 'node:fs';
import { flagValueError, type FlagSpec, type ParsedArgs } from './args.js';
import type { NetworkRequest } from '../runtime/network/containerNetwork.js';
import type { HostEntry } from '../runtime/network/etcFiles.js';
import { parseAddress } from '../runtime/network/ipv4.js';
import { parseNetworkChoice, type NetworkChoice } from '../runtime/network/networkMode.js';
import { parseExposed, parsePublish, type PortRequest } from '../runtime/network/ports.js';

export const NETWORK_FLAGS: FlagSpec[] = [
  { name: 'network', kind: 'string', description: 'Connect a container to a network: bridge (default), none, host, container:NAME or a network from kiln network create', valueName: 'network' },
  { name: 'net', kind: 'string', description: 'Same as --network', valueName: 'network' },
  { name: 'publish', short: 'p', kind: 'list', description: "Publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp])", valueName: 'list' },
  { name: 'publish-all', short: 'P', kind: 'bool', description: 'Publish all exposed ports to free host ports' },
  { name: 'expose', kind: 'list', description: 'Expose a port or a range of ports', valueName: 'list' },
  { name: 'dns', kind: 'list', description: 'Set custom DNS servers', valueName: 'list' },
  { name: 'dns-search', kind: 'list', description: 'Set custom DNS search domains', valueName: 'list' },
  { name: 'dns-option', kind: 'list', description: 'Set DNS options', valueName: 'list' },
  { name: 'add-host', kind: 'list', description: 'Add a custom host-to-IP mapping (host:ip, ip may be host-gateway)', valueName: 'list' },
];

export function networkChoice(args: ParsedArgs): NetworkChoice {
  return parseNetworkChoice(args.strings.get('network') ?? args.strings.get('net') ?? 'bridge');
}

/** `--add-host NAME:IP` (docker also takes NAME=IP). */
export function parseAddHost(text: string): HostEntry {
  const sep = text.search(/[:=]/);
  const name = sep < 0 ? '' : text.slice(0, sep);
  const address = sep < 0 ? '' : text.slice(sep + 1);
  if (name === '' || address === '') throw flagValueError(`invalid argument "${text}" for "--add-host" flag: bad format for add-host: "${text}"`);
  if (address !== 'host-gateway' && parseAddress(address) === undefined) throw flagValueError(`invalid argument "${text}" for "--add-host" flag: invalid IP address in add-host: "${address}"`);
  return { name, address };
}

/** -p values, then (with -P) every exposed port not already published, to a free host port. */
function publishedPorts(args: ParsedArgs, exposed: readonly string[]): PortRequest[] {
  const ports = (args.lists.get('publish') ?? []).flatMap(parsePublish);
  const expose = [...exposed, ...(args.lists.get('expose') ?? [])].flatMap(parseExposed);
  if (args.bools.has('publish-all')) {
    for (const e of expose) {
      if (!ports.some((p) => p.containerPort === e.port && p.proto === e.proto)) ports.push({ proto: e.proto, hostIp: '', hostPort: 0, containerPort: e.port });
    }
  }
  return ports;
}

/** docker's refusals for `--network container:NAME`, whose namespace and files are the other container's. */
function refuseWithContainerNetwork(args: ParsedArgs): void {
  if (args.strings.has('hostname')) throw flagValueError('conflicting options: hostname and the network mode');
  if (['dns', 'dns-search', 'dns-option'].some((f) => args.lists.has(f))) throw flagValueError('conflicting options: dns and the network mode');
  if (args.lists.has('add-host')) throw flagValueError('conflicting options: custom host-to-IP mapping and the network mode');
  if (args.lists.has('publish') || args.bools.has('publish-all')) throw flagValueError('conflicting options: port publishing and the container type network mode');
  if (args.lists.has('expose')) throw flagValueError('conflicting options: port exposing and the container type network mode');
}

/**
 * The request, with the container network's PID 1 looked up by the caller. `exposed`: the
 * image's ExposedPorts keys. Ports are dropped with the host network (docker warns) and none.
 */
export function networkRequest(args: ParsedArgs, choice: NetworkChoice, exposed: readonly string[], aliases: readonly string[], containerPid?: number): NetworkRequest {
  if ('container' in choice) {
    refuseWithContainerNetwork(args);
    return { mode: { container: containerPid as number } };
  }
  const ports = publishedPorts(args, exposed);
  const mode = 'network' in choice ? { network: choice.network } : choice.mode;
  if (mode === 'host' && ports.length > 0) process.stderr.write('WARNING: Published ports are discarded when using host network mode\n');
  const list = (name: string): string[] | undefined => args.lists.get(name);
  return {
    mode,
    ...(mode !== 'host' && mode !== 'none' ? { ports } : {}),
    ...(list('dns') ? { dns: list('dns') } : {}),
    ...(list('dns-search') ? { dnsSearch: list('dns-search') } : {}),
    ...(list('dns-option') ? { dnsOptions: list('dns-option') } : {}),
    extraHosts: (list('add-host') ?? []).map(parseAddHost),
    aliases,
  };
}

/** The hostname of a running container (its PID 1's /etc/hostname), which `container:` shares. */
export function containerHostname(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/root/etc/hostname`, 'utf8').slice(0, 64).trim();
  } catch {
    return '';
  }
}
