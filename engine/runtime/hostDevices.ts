/**
 * `--device HOST[:CONTAINER][:PERMISSIONS]` as docker reads it: the host node (or every node
 * under a host directory) is made in the container with the host's type, numbers, mode and
 * owner, and its numbers are added to the device allow-list with the permissions given
 * (default rwm). Resolved before anything is created, so a missing device stops the run early.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Stats } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';
import { normaliseAccess, type DeviceRule, type DeviceType } from './deviceRules.js';

export interface HostDevice {
  hostPath: string;
  containerPath: string;
  type: DeviceType;
  major: number;
  minor: number;
  /** Permission bits of the host node. */
  mode: number;
  uid: number;
  gid: number;
  access: string;
}

export interface DeviceRequest { host: string; container: string; access: string }

/** Splits the flag's value: `/dev/fuse`, `/dev/sda:/dev/xvda`, `/dev/sda:r`, `/dev/sda:/dev/xvda:rw`. */
export function parseDeviceFlag(text: string): DeviceRequest {
  const parts = text.split(':');
  const bad = (): KilnError => new KilnError('USAGE', `invalid device specification: ${text}`, { exitCode: 125 });
  if (parts.length > 3 || parts.some((p) => p === '')) throw bad();
  const host = parts[0] as string;
  let container = host;
  let access = 'rwm';
  if (parts.length === 3) {
    container = parts[1] as string;
    access = parts[2] as string;
  } else if (parts.length === 2) {
    const second = parts[1] as string;
    if (normaliseAccess(second) !== undefined) access = second;
    else container = second;
  }
  const normalised = normaliseAccess(access);
  if (normalised === undefined) throw bad();
  if (!posix.isAbsolute(container)) throw new KilnError('USAGE', `invalid device specification: ${text}: the container path must be absolute`, { exitCode: 125 });
  return { host, container: posix.normalize(container), access: normalised };
}

/** glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor). */
export function splitDeviceNumber(dev: bigint): { major: number; minor: number } {
  const major = ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n);
  const minor = (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

function deviceType(st: Stats): DeviceType | undefined {
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  return undefined;
}

function fromStats(hostPath: string, containerPath: string, st: Stats, access: string): HostDevice | undefined {
  const type = deviceType(st);
  if (!type) return undefined;
  const { major, minor } = splitDeviceNumber(BigInt(st.rdev));
  return { hostPath, containerPath, type, major, minor, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, access };
}

/** The nodes a `--device` request names; a clear error when there is none. */
export function resolveHostDevices(request: DeviceRequest): HostDevice[] {
  let st: Stats;
  try {
    st = statSync(request.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new KilnError('BAD_DEVICE', `error gathering device information while adding custom device "${request.host}": ${why}`, { exitCode: 125 });
  }
  const single = fromStats(request.host, request.container, st, request.access);
  if (single) return [single];
  if (!st.isDirectory()) {
    throw new KilnError('BAD_DEVICE', `error gathering device information while adding custom device "${request.host}": not a device node`, { exitCode: 125 });
  }
  const found: HostDevice[] = [];
  const walk = (dir: string, inside: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = posix.join(dir, name);
      const entry = lstatSync(path);
      if (entry.isDirectory()) walk(path, posix.join(inside, name));
      const dev = fromStats(path, posix.join(inside, name), entry, request.access);
      if (dev) found.push(dev);
    }
  };
  walk(request.host, request.container);
  if (found.length === 0) {
    throw new KilnError('BAD_DEVICE', `error gathering device information while adding custom device "${request.host}": no device nodes in the directory`, { exitCode: 125 });
  }
  return found;
}

export function deviceRule(device: HostDevice): DeviceRule {
  return { type: device.type, major: device.major, minor: device.minor, access: device.access };
}
