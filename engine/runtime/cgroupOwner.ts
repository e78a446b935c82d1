/**
 * Which kiln process a container cgroup belongs to, written into its name, and the sweep of
 * the cgroups whose kiln died without removing them (SIGKILL skips every clean-up; its
 * containers die with it through the parent-death signal, their cgroups stay).
 *
 * A name is `ID@PID.START.PIDNS`: the owner's pid, its start time (clock ticks after boot, from
 * /proc/PID/stat, so a reused pid is not mistaken for the owner) and its pid namespace (a pid
 * from another namespace cannot be checked here). Only a cgroup whose owner is verifiably gone
 * is swept — other kiln processes, and other programs' cgroups, are left alone — and it is swept
 * by the next kiln that starts a container, not after some age.
 */
import { readlinkSync } from 'node:fs';
import { processStartTime } from '../host/processIdentity.js';

export interface CgroupOwner {
  pid: number;
  /** Field 22 of /proc/PID/stat. */
  startTime: string;
  /** The inode of /proc/PID/ns/pid. */
  pidNamespace: string;
}

function pidNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/pid`))?.[1];
  } catch {
    return undefined;
  }
}

let self: CgroupOwner | undefined;

export function thisProcess(): CgroupOwner {
  self ??= { pid: process.pid, startTime: processStartTime(process.pid) ?? '0', pidNamespace: pidNamespaceOf('self') ?? '0' };
  return self;
}

export function ownedCgroupName(id: string, owner: CgroupOwner = thisProcess()): string {
  return `${id}@${owner.pid}.${owner.startTime}.${owner.pidNamespace}`;
}

/** The owner a cgroup's name records; undefined for names kiln did not make this way. */
export function ownerOf(name: string): { id: string; owner: CgroupOwner } | undefined {
  const at = name.lastIndexOf('@');
  if (at <= 0) return undefined;
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(name.slice(at + 1));
  if (!m) return undefined;
  return { id: name.slice(0, at), owner: { pid: Number(m[1]), startTime: m[2] as string, pidNamespace: m[3] as string } };
}

/**
 * True only when the owner is certainly gone: same pid namespace as this process, and no
 * process with that pid or one that started at another time.
 */
export function ownerGone(owner: CgroupOwner): boolean {
  const me = thisProcess();
  if (owner.pidNamespace !== me.pidNamespace) return false;
  if (owner.pid === me.pid) return owner.startTime !== me.startTime;
  const start = processStartTime(owner.pid);
  return start === undefined || start !== owner.startTime;
}
