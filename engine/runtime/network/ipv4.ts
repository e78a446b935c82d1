/**
 * IPv4 addresses and subnets as numbers: parsing, formatting, overlap, the n-th host of a
 * subnet, docker's MAC for an address, and the host's routes (which a new subnet must avoid).
 */
import { readFileSync } from 'node:fs';

export interface Subnet {
  /** The network address, as an unsigned 32-bit number. */
  base: number;
  prefixLength: number;
}

export function parseAddress(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + p, 0);
}

export function formatAddress(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** "10.90.0.0/16" → the subnet; undefined when malformed or when host bits are set. */
export function parseSubnet(text: string): Subnet | undefined {
  const [addr, len, ...rest] = text.split('/');
  if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) return undefined;
  const base = parseAddress(addr);
  const prefixLength = Number(len);
  if (base === undefined || prefixLength > 32) return undefined;
  if ((base & ~mask(prefixLength)) >>> 0 !== 0) return undefined;
  return { base, prefixLength };
}

export function formatSubnet(s: Subnet): string {
  return `${formatAddress(s.base)}/${s.prefixLength}`;
}

export function contains(s: Subnet, address: number): boolean {
  return ((address & mask(s.prefixLength)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  return ((a.base & mask(shorter)) >>> 0) === ((b.base & mask(shorter)) >>> 0);
}

/** The n-th address of the subnet (1 is the gateway, by docker's convention). */
export function hostAddress(s: Subnet, n: number): number {
  return (s.base + n) >>> 0;
}

/** How many host addresses the subnet has, network and broadcast addresses excluded. */
export function hostCount(s: Subnet): number {
  return Math.max(0, 2 ** (32 - s.prefixLength) - 2);
}

/** docker's rule: 02:42 followed by the four bytes of the address (no clash on one bridge). */
export function macForAddress(n: number): string {
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The destinations of the host's IPv4 routes (main table, /proc/net/route): every subnet a
 * network of kiln's must stay clear of, the default route aside.
 */
export function hostRoutes(text = readOr('/proc/net/route')): Subnet[] {
  const out: Subnet[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = littleEndianHex(f[1] as string);
    const m = littleEndianHex(f[7] as string);
    if (dest === undefined || m === undefined || m === 0) continue;
    out.push({ base: dest, prefixLength: prefixOfMask(m) });
  }
  return out;
}

function prefixOfMask(m: number): number {
  let n = 0;
  for (let bit = 31; bit >= 0 && (m >>> bit) & 1; bit--) n++;
  return n;
}

/** /proc/net/route prints addresses as the host's (little-endian) 32-bit words in hex. */
function littleEndianHex(hex: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const n = Number.parseInt(hex, 16);
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
