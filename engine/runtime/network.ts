/**
 * The network a container gets (`none`: its own namespace with only `lo`; `host`: the
 * engine's) and the generated /etc/hosts, /etc/hostname and /etc/resolv.conf, as docker writes them.
 */
import { readFileSync } from 'node:fs';

export type NetworkMode = 'none' | 'host';

const LOCALHOST_LINES = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** With the host's network the host's hosts file is copied (docker does the same). */
export function hostsFileContent(network: NetworkMode, hostname: string, hostHosts?: string): string {
  if (network === 'host') {
    const text = hostHosts ?? readOr('/etc/hosts', LOCALHOST_LINES.join('\n') + '\n');
    return text.endsWith('\n') ? text : text + '\n';
  }
  return [...LOCALHOST_LINES, `127.0.0.1\t${hostname}`].join('\n') + '\n';
}

export function hostnameFileContent(hostname: string): string {
  return hostname + '\n';
}

const PUBLIC_DNS = ['nameserver 8.8.8.8', 'nameserver 8.8.4.4'];

/**
 * The host's resolv.conf. A loopback resolver (systemd-resolved's 127.0.0.53) is unreachable
 * from a network namespace of its own, so docker substitutes public servers then; with the host
 * network the file is kept as is.
 */
export function resolvConfContent(network: NetworkMode, hostResolv?: string): string {
  const text = hostResolv ?? readOr('/etc/resolv.conf', '');
  if (network === 'host') return text.endsWith('\n') || text === '' ? text : text + '\n';
  const lines = text.split('\n');
  const isLoopbackServer = (l: string): boolean => /^\s*nameserver\s+(127\.|::1\b)/.test(l);
  const kept = lines.filter((l) => !isLoopbackServer(l));
  const hasServer = kept.some((l) => /^\s*nameserver\s/.test(l));
  const out = hasServer ? kept : [...kept.filter((l) => l.trim() !== ''), ...PUBLIC_DNS];
  return out.join('\n').replace(/\n*$/, '\n');
}
