/**
 * Published ports: `-p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]` (ranges as START-END) read as
 * docker reads them, and the host side of each held while the container runs: a socket bound to
 * the host address and port (not listening), so a port already taken is refused up front with
 * docker's message and nothing else can take it meanwhile; port 0 (`-P`, `-p CONTAINER_PORT`)
 * takes a free one. The socket closes with its holder, however that ends.
 */
import { closeSync } from 'node:fs';
import { nativeBinding } from '../../../native/index.js';
import { KilnError } from '../../errors/kilnError.js';
import { parseAddress } from './ipv4.js';

export type PortProtocol = 'tcp' | 'udp';

export interface PortRequest {
  proto: PortProtocol;
  /** '' for every local address. */
  hostIp: string;
  /** 0: any free port. */
  hostPort: number;
  containerPort: number;
}

/** A published port, its host port known. */
export type PortBinding = PortRequest;

function usage(message: string): KilnError {
  return new KilnError('USAGE', message, { exitCode: 125 });
}

function parseRange(text: string, what: 'hostPort' | 'containerPort'): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m && m[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start) throw usage(`Invalid ${what}: ${text}`);
  return [start, end];
}

/** One `-p` value: one request per port of its range. */
export function parsePublish(text: string): PortRequest[] {
  const slash = text.lastIndexOf('/');
  const proto = slash < 0 ? 'tcp' : text.slice(slash + 1).toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw usage(`Invalid proto: ${text.slice(slash + 1)}${proto === 'sctp' ? ' (kiln publishes tcp and udp ports)' : ''}`);
  const spec = slash < 0 ? text : text.slice(0, slash);
  if (spec.startsWith('[')) throw usage(`Invalid ip address: ${spec}: kiln publishes ports on IPv4 addresses only`);
  const parts = spec.split(':');
  if (parts.length > 3) throw usage(`Invalid port specification: "${text}"`);
  const containerText = parts[parts.length - 1] as string;
  const hostText = parts.length >= 2 ? (parts[parts.length - 2] as string) : '';
  const hostIp = parts.length === 3 ? (parts[0] as string) : '';
  if (hostIp !== '' && parseAddress(hostIp) === undefined) throw usage(`Invalid ip address: ${hostIp}`);
  if (containerText === '') throw usage(`No port specified: ${text}<empty>`);
  const [cStart, cEnd] = parseRange(containerText, 'containerPort');
  const [hStart, hEnd] = hostText === '' ? [0, 0] : parseRange(hostText, 'hostPort');
  if (hostText !== '' && hEnd - hStart !== cEnd - cStart) throw usage(`Invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`);
  const out: PortRequest[] = [];
  for (let i = 0; i <= cEnd - cStart; i++) {
    out.push({ proto, hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort: hostText === '' ? 0 : hStart + i, containerPort: cStart + i });
  }
  return out;
}

/** An image's ExposedPorts keys ("80/tcp", "53/udp", "8080") and `--expose` values (ranges too). */
export function parseExposed(text: string): { proto: PortProtocol; port: number }[] {
  const [ports, protoText = 'tcp'] = text.split('/') as [string, string | undefined];
  const proto = protoText.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw usage(`Invalid proto: ${protoText}`);
  const [start, end] = parseRange(ports, 'containerPort');
  return Array.from({ length: end - start + 1 }, (_, i) => ({ proto, port: start + i }));
}

/** How a binding is shown: `80/tcp -> 0.0.0.0:8080`, as docker port prints it. */
export function describeBinding(b: PortBinding): string {
  return `${b.containerPort}/${b.proto} -> ${b.hostIp === '' ? '0.0.0.0' : b.hostIp}:${b.hostPort}`;
}

export interface PortReservations {
  bindings: PortBinding[];
  close(): void;
}

/** Binds every requested host port; on a refusal closes those already bound and throws. */
export function reservePorts(requests: readonly PortRequest[]): PortReservations {
  const fds: number[] = [];
  const bindings: PortBinding[] = [];
  const close = (): void => {
    for (const fd of fds.splice(0)) {
      try { closeSync(fd); } catch { /* already closed */ }
    }
  };
  try {
    for (const r of requests) {
      const address = r.hostIp === '' ? '0.0.0.0' : r.hostIp;
      try {
        const { fd, port } = nativeBinding().reservePort(r.proto, address, r.hostPort);
        fds.push(fd);
        bindings.push({ ...r, hostPort: port });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new KilnError('PORT_IN_USE', `Bind for ${address}:${r.hostPort} failed: port is already allocated`, { exitCode: 125 });
        if (code === 'EADDRNOTAVAIL') throw new KilnError('PORT_ADDRESS', `listen ${r.proto}4 ${address}:${r.hostPort}: bind: cannot assign requested address`, { exitCode: 125 });
        throw err;
      }
    }
  } catch (err) {
    close();
    throw err;
  }
  return { bindings, close };
}
