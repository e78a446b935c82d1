/**
 * The /etc/hosts, /etc/hostname and /etc/resolv.conf a container gets, as docker writes them:
 * with the host's network, the host's files; in a network namespace of its own, localhost lines,
 * `--add-host` entries and the container's own address, and the host's resolvers minus the
 * loopback ones (unreachable from another namespace), or those `--dns` names.
 */
import { readFileSync } from 'node:fs';

/** host: the engine's network; none: only `lo`; own: an interface of its own (bridge, slirp). */
export type EtcMode = 'host' | 'none' | 'own';

export interface HostEntry { name: string; address: string }

export interface HostsOptions {
  hostname: string;
  /** The container's address on its network (mode 'own'). */
  address?: string;
  extraHosts?: readonly HostEntry[];
}

export interface ResolvOptions {
  dns?: readonly string[];
  dnsSearch?: readonly string[];
  dnsOptions?: readonly string[];
  /** Put in place of loopback resolvers (slirp4netns's forwarder); default: docker's public fallback. */
  loopbackReplacement?: readonly string[];
}

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

function withNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : text + '\n';
}

/** With the host's network the host's hosts file is copied (docker does the same). */
export function hostsFileContent(mode: EtcMode, options: HostsOptions, hostHosts?: string): string {
  const extra = (options.extraHosts ?? []).map((h) => `${h.address}\t${h.name}`);
  if (mode === 'host') {
    const text = withNewline(hostHosts ?? readOr('/etc/hosts', LOCALHOST_LINES.join('\n') + '\n'));
    return text + extra.map((l) => l + '\n').join('');
  }
  const self = mode === 'own' && options.address !== undefined ? `${options.address}\t${options.hostname}` : `127.0.0.1\t${options.hostname}`;
  return [...LOCALHOST_LINES, ...extra, self].join('\n') + '\n';
}

export function hostnameFileContent(hostname: string): string {
  return hostname + '\n';
}

const PUBLIC_DNS = ['8.8.8.8', '8.8.4.4'];
const SYSTEMD_RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

const isLoopbackServer = (line: string): boolean => /^\s*nameserver\s+(127\.|::1\b)/.test(line);
const isServer = (line: string): boolean => /^\s*nameserver\s/.test(line);

/**
 * The host's resolv.conf as a container sees it. A loopback resolver is unreachable from a
 * network namespace of its own: for systemd-resolved's 127.0.0.53 docker reads the upstream
 * servers it lists instead, and with none left it falls back to public servers. `--dns`,
 * `--dns-search` and `--dns-option` replace their kind of line. With the host network the
 * file is kept as is.
 */
export function resolvConfContent(mode: EtcMode, options: ResolvOptions = {}, hostResolv?: string, upstream?: string): string {
  let text = hostResolv ?? readOr('/etc/resolv.conf', '');
  const custom = options.dns?.length || options.dnsSearch?.length || options.dnsOptions?.length;
  if (mode === 'host' && !custom) return withNewline(text);
  if (mode !== 'host' && text.split('\n').some((l) => /^\s*nameserver\s+127\.0\.0\.53\b/.test(l))) {
    text = upstream ?? (hostResolv === undefined ? readOr(SYSTEMD_RESOLVED_UPSTREAM, text) : text);
  }
  let lines = text.split('\n');
  if (mode !== 'host' && !options.dns?.length) {
    const kept = lines.filter((l) => !isLoopbackServer(l));
    if (!kept.some(isServer)) {
      const replacement = options.loopbackReplacement ?? PUBLIC_DNS;
      lines = [...kept.filter((l) => l.trim() !== ''), ...replacement.map((s) => `nameserver ${s}`)];
    } else lines = kept;
  }
  if (!custom) return lines.join('\n').replace(/\n*$/, '\n');
  // docker's resolvconf.Build: search, then nameservers, then options; each from the flags when given.
  const from = (kind: string): string[] => lines.filter((l) => new RegExp(`^\\s*${kind}\\s`).test(l)).map((l) => l.trim().split(/\s+/).slice(1).join(' '));
  const search = options.dnsSearch?.length ? options.dnsSearch.join(' ') : from('search').join(' ');
  const servers = options.dns?.length ? [...options.dns] : from('nameserver');
  const opts = options.dnsOptions?.length ? options.dnsOptions.join(' ') : from('options').join(' ');
  const out = [...(search ? [`search ${search}`] : []), ...servers.map((s) => `nameserver ${s}`), ...(opts ? [`options ${opts}`] : [])];
  return out.join('\n') + '\n';
}
