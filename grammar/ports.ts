/**
 * EXPOSE port specs as BuildKit reads them when it dispatches EXPOSE: `[ip:][hostPort:]port[-end][/proto]`
 * with proto tcp (default), udp or sctp, ranges expanded, result `port/proto`. The host IP
 * and host port forms are accepted (BuildKit only lints them) but dropped.
 */
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

/**
 * node:net's isIP, loaded only for a spec that names a host IP: node:net brings the stream
 * modules, 5-10 ms of a cold build's start that a build without RUN steps never needs otherwise
 * (the grammar imports nothing of engine/, whose lateLoading.ts keeps kiln's other late loads).
 */
function isIP(ip: string): number {
  return (requireBuiltin('node:net') as typeof import('node:net')).isIP(ip);
}

export class PortError extends Error {}

function portNumber(raw: string): number {
  if (raw === '') throw new PortError('value is empty');
  if (!/^[+-]?[0-9]+$/.test(raw)) throw new PortError('invalid syntax');
  const n = Number(raw);
  if (n < 0 || n > 65535) throw new PortError('value out of range (0–65535)');
  return n;
}

function portRange(ports: string): [number, number] {
  if (ports === '') throw new PortError('empty string specified for ports');
  const dash = ports.indexOf('-');
  const start = dash < 0 ? ports : ports.slice(0, dash);
  const end = dash < 0 ? '' : ports.slice(dash + 1);
  let s: number;
  try { s = portNumber(start); } catch (e) { throw new PortError(`invalid start port '${start}': ${(e as Error).message}`); }
  if (dash < 0 || start === end) return [s, s];
  let e: number;
  try { e = portNumber(end); } catch (err) { throw new PortError(`invalid end port '${end}': ${(err as Error).message}`); }
  if (e < s) throw new PortError(`invalid port range: ${ports}`);
  return [s, e];
}

/** One spec (`8080`, `53/udp`, `8000-8002/tcp`, `127.0.0.1:80:80`) as `port/proto` entries. Throws PortError. */
export function parsePortSpec(raw: string): string[] {
  const parts = raw.split(':');
  const n = parts.length;
  let ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
  const hostPort = n >= 2 ? (parts[n - 2] as string) : '';
  const slash = (parts[n - 1] as string).indexOf('/');
  const containerPort = slash < 0 ? (parts[n - 1] as string) : (parts[n - 1] as string).slice(0, slash);
  let proto = slash < 0 ? '' : (parts[n - 1] as string).slice(slash + 1);
  if (containerPort === '') throw new PortError(`invalid port: ${JSON.stringify(raw)}: no port specified`);
  if (proto === '') proto = 'tcp';
  else if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new PortError(`invalid port: ${JSON.stringify(raw)}: invalid proto: ${proto}`);
  if (ip.startsWith('[')) {
    if (!ip.endsWith(']')) throw new PortError(`invalid IP address ${ip}`);
    ip = ip.slice(1, -1);
  }
  if (ip !== '' && isIP(ip) === 0) throw new PortError(`invalid IP address: ${ip}`);
  let start: number, end: number;
  try { [start, end] = portRange(containerPort); } catch { throw new PortError(`invalid containerPort: ${containerPort}`); }
  if (hostPort !== '') {
    let hs: number, he: number;
    try { [hs, he] = portRange(hostPort); } catch { throw new PortError(`invalid hostPort: ${hostPort}`); }
    if (end - start !== he - hs && end !== start) {
      throw new PortError(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

/** All specs of an EXPOSE instruction (already expanded and split), in order. */
export function parseExposedPorts(specs: readonly string[]): string[] {
  return specs.flatMap(parsePortSpec);
}
