/**
 * A process named so that its name outlives pid reuse: `PID-START`, START being when the kernel
 * started it (clock ticks since boot, /proc/PID/stat field 22, as systemd and polkit tell
 * processes apart). Leases, lock files and temp names carry it, so state a dead kiln left is
 * recognised as dead even when another process now has its pid — and never taken from a live one.
 */
import { readFileSync } from 'node:fs';
import { processAlive } from './processAlive.js';

/** The start time of a running process, or undefined when it is gone (or /proc is not there). */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

let self: string | undefined;

/** This process's tag, `PID-START` (`PID-0` where /proc cannot tell). */
export function selfTag(): string {
  return (self ??= `${process.pid}-${processStartTime(process.pid) ?? '0'}`);
}

/** Splits `PID-START…` at the front of a name; undefined when the name carries no tag. */
export function parseTag(name: string): { pid: number; start: string | undefined } | undefined {
  const m = /^(\d+)(?:-(\d+))?/.exec(name);
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2] };
}

/**
 * Whether the process a tag names still runs: its pid is alive and, when the tag has a start
 * time, the process with that pid started then (else the pid was reused: the tagged one died).
 */
export function tagAlive(tag: { pid: number; start: string | undefined }): boolean {
  if (!processAlive(tag.pid)) return false;
  if (tag.start === undefined || tag.start === '0') return true;
  const now = processStartTime(tag.pid);
  return now === undefined || now === tag.start;
}
