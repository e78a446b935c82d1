/**
 * Where kiln keeps the host-wide state of its networks, and the lock that guards it. A bridge,
 * its addresses and kiln's nftables table belong to the host, not to one store: containers of
 * every store (each KILN_ROOT, each user of kiln as root) share kiln0, so the networks, address
 * allocations and published ports are recorded once, under /run/kiln/network, as docker keeps
 * its network state per host. /run is a memory file system emptied at boot, as are the links and
 * rules the records describe, so the two cannot disagree after a reboot.
 *
 * An owner (pid + start time) is recorded with what a process allocates: a pid alone may be
 * reused, a pid with the same start time is the same process.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBinding } from '../../../native/index.js';
import { processStartTime } from '../../host/processIdentity.js';

export const NETWORK_STATE_DIR = '/run/kiln/network';

export interface Owner {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot when the process started. */
  start: string;
}

let self: Owner | undefined;

export function currentOwner(): Owner {
  self ??= { pid: process.pid, start: processStartTime(process.pid) ?? '' };
  return self;
}

/** False only when the process is verifiably gone: no such pid, or another process under it. */
export function ownerAlive(owner: Owner): boolean {
  const start = processStartTime(owner.pid);
  return start !== undefined && start === owner.start;
}

export function stateDir(...parts: string[]): string {
  const dir = join(NETWORK_STATE_DIR, ...parts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let queue: Promise<void> = Promise.resolve();

/**
 * Runs fn holding the host-wide network lock (an flock, so a killed holder never leaves it
 * held). Callers in one process queue first: two descriptors of one process would block each
 * other. Not reentrant.
 */
export async function withHostLock<T>(fn: () => Promise<T> | T): Promise<T> {
  const previous = queue;
  let done!: () => void;
  queue = new Promise<void>((r) => { done = r; });
  await previous;
  const fd = openSync(join(stateDir(), 'lock'), 'a', 0o600);
  try {
    const native = nativeBinding();
    for (let wait = 1; !native.tryLock(fd); wait = Math.min(wait * 2, 25)) await sleep(wait);
    return await fn();
  } finally {
    closeSync(fd);
    done();
  }
}
