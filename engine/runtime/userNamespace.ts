/**
 * Rootless: the container's root is the invoking user. With an /etc/subuid and /etc/subgid
 * range and the setuid helpers newuidmap/newgidmap, ids 1..N map onto that range too (so images
 * with other users work); otherwise only a single id is mapped and setgroups is denied, as the
 * kernel requires before an unprivileged process writes gid_map.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { nodeChildProcess } from '../lateLoading.js';

/** The id-map helpers run only rootless: child_process (and net with it) loads then, not on every kiln run. */
async function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(nodeChildProcess().execFile)(file, args);
}

export interface SubIdRange { start: number; count: number }

/** First range for the user (by name or uid) in an /etc/subuid-style file. */
export function subIdRange(text: string, name: string, id: number): SubIdRange | undefined {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who !== name && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) return { start: s, count: c };
  }
  return undefined;
}

function helper(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface IdMapResult {
  /** Whether setgroups() is allowed in the namespace (false with a single-id map). */
  setgroups: boolean;
  /** Highest container id that maps to a host id. */
  maxId: number;
}

/** What a full map needs: the user's subordinate ranges and the setuid helpers that may write them. */
export interface SubordinateIds {
  uid: number;
  gid: number;
  name: string;
  subuid: SubIdRange;
  subgid: SubIdRange;
  newuidmap: string;
  newgidmap: string;
}

/**
 * The invoking user's name, or its uid as text when it has no passwd entry (a CI container's
 * `--user 1000:1000`): /etc/subuid may name the user either way.
 */
export function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 0);
  }
}

/** The invoking user's subordinate ids, or why a full map cannot be written. */
export function subordinateIds(): SubordinateIds | { missing: string } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const name = currentUserName();
  const subuid = subIdRange(readOr('/etc/subuid'), name, uid);
  const subgid = subIdRange(readOr('/etc/subgid'), name, uid);
  const newuidmap = helper('newuidmap');
  const newgidmap = helper('newgidmap');
  const missing: string[] = [];
  if (!subuid) missing.push(`no range for ${name} in /etc/subuid`);
  if (!subgid) missing.push(`no range for ${name} in /etc/subgid`);
  if (!newuidmap || !newgidmap) missing.push('the newuidmap/newgidmap programs are not installed (Debian package uidmap)');
  if (!subuid || !subgid || !newuidmap || !newgidmap) return { missing: missing.join('; ') };
  return { uid, gid, name, subuid, subgid, newuidmap, newgidmap };
}

/** Maps 0 onto the user and 1..N onto the subordinate range (N = the smaller range); throws when a helper refuses. */
export async function writeFullIdMaps(pid: number, ids: SubordinateIds): Promise<IdMapResult> {
  // The two helpers are independent (newgidmap needs no uid map): run them side by side.
  await Promise.all([
    run(ids.newuidmap, [String(pid), '0', String(ids.uid), '1', '1', String(ids.subuid.start), String(ids.subuid.count)]),
    run(ids.newgidmap, [String(pid), '0', String(ids.gid), '1', '1', String(ids.subgid.start), String(ids.subgid.count)]),
  ]);
  return { setgroups: true, maxId: Math.min(ids.subuid.count, ids.subgid.count) };
}

/** Writes the uid/gid maps of a child that waits in a fresh user namespace: full when possible, else one id. */
export async function writeIdMaps(pid: number): Promise<IdMapResult> {
  const ids = subordinateIds();
  if (!('missing' in ids)) {
    try {
      return await writeFullIdMaps(pid, ids);
    } catch {
      // fall back to the single-id map below
    }
  }
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  await writeFile(`/proc/${pid}/uid_map`, `0 ${uid} 1\n`);
  await writeFile(`/proc/${pid}/setgroups`, 'deny');
  await writeFile(`/proc/${pid}/gid_map`, `0 ${gid} 1\n`);
  return { setgroups: false, maxId: 0 };
}

/** Whether an id map ("inside outside count" per line, as in /proc/PID/gid_map) gives `id` a host id. */
export function idMapCovers(map: string, id: number): boolean {
  for (const line of map.split('\n')) {
    const [inside, , count] = line.trim().split(/\s+/).map(Number);
    if (inside !== undefined && count !== undefined && id >= inside && id < inside + count) return true;
  }
  return false;
}

/** Whether this process's own user namespace maps group `gid`. */
export function ownGroupMapped(gid: number): boolean {
  return idMapCovers(readOr('/proc/self/gid_map'), gid);
}
