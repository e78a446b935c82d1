/**
 * What `kiln stop`, `kill`, `restart` and `rm -f` do to a running container, whoever holds it (a
 * supervisor or a foreground `kiln run`): leave the holder a note of what was asked
 * (holderRequest.ts), signal the container's PID 1 through a pidfd (opened only when the pid's
 * start time is the recorded one, so a reused pid is never signalled), thaw it if it was paused
 * (the signal is delivered as it wakes), wait for it to exit — SIGKILL at the deadline — and then
 * for the holder to write the exit down.
 */
import { closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { nativeBinding } from '../../../native/index.js';
import { KilnError } from '../../errors/kilnError.js';
import { processStartTime } from '../../host/processIdentity.js';
import { holderAlive, isLive, type ContainerRecord, type ContainerRecords } from '../containerRecords.js';
import { freezerOf, isFrozen, setFrozen } from './freezer.js';
import { leaveRequest, takeRequest, type HolderRequest } from './holderRequest.js';
import { untilRecord } from './recordWatch.js';
import { signalNumber } from './signals.js';

/** A pidfd of the container's running PID 1, or undefined when it does not run. */
export function openContainerProcess(rec: ContainerRecord): number | undefined {
  if (!isLive(rec) || rec.pid === undefined) return undefined;
  const native = nativeBinding();
  const fd = native.pidfdOpen(rec.pid);
  if (fd < 0) return undefined;
  // Checked after opening: from here on the descriptor names this process whatever its pid becomes.
  if (rec.pidStart !== undefined && processStartTime(rec.pid) !== rec.pidStart) {
    closeFd(fd);
    return undefined;
  }
  return fd;
}

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Resolves true when the process exits within `ms` (forever when ms < 0). */
function exitWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  if (ms < 0) return exited.then(() => true);
  return Promise.race([exited.then(() => true), sleep(ms, false, { ref: false })]);
}

/** The pidfd's process exit (the watch closes the descriptor then). */
function watchExit(pidfd: number): Promise<void> {
  return new Promise((resolve) => nativeBinding().watch(pidfd, () => resolve()));
}

/** Sends `signal` to the container's PID 1 after leaving `request`; false when it does not run. */
export async function signalContainer(containerDir: string, rec: ContainerRecord, signal: string, request: HolderRequest): Promise<boolean> {
  const fd = openContainerProcess(rec);
  if (fd === undefined) return false;
  try {
    leaveRequest(containerDir, request);
    nativeBinding().signal(fd, signalNumber(signal));
    const freezer = freezerOf(rec.cgroupDirs);
    if (isFrozen(freezer) && freezer) await setFrozen(freezer, false);
  } finally {
    closeFd(fd);
  }
  return true;
}

/**
 * Stops a running container as `docker stop` does: `signal`, then SIGKILL after `timeoutSec`
 * (never with a negative timeout); resolves once the holder has recorded the exit (or, for a
 * restart, the next start). False when it was not running.
 */
export async function stopContainer(records: ContainerRecords, rec: ContainerRecord, signal: string, timeoutSec: number, kind: 'stop' | 'restart'): Promise<boolean> {
  const fd = openContainerProcess(rec);
  const dir = records.containerDir(rec.id);
  if (fd === undefined) {
    if (rec.state === 'restarting' && isLive(rec)) return stopRestarting(records, rec, signal, timeoutSec, kind);
    if (kind === 'stop' && rec.state === 'exited' && holderAlive(rec)) return stopBeforeRestart(records, rec, signal, timeoutSec);
    return false;
  }
  const native = nativeBinding();
  leaveRequest(dir, { kind, canceled: kind === 'stop' });
  const exited = watchExit(fd);
  native.signal(fd, signalNumber(signal));
  const freezer = freezerOf(rec.cgroupDirs);
  if (isFrozen(freezer) && freezer) await setFrozen(freezer, false);
  if (!(await exitWithin(exited, timeoutSec < 0 ? -1 : timeoutSec * 1000))) {
    native.signal(fd, signalNumber('SIGKILL'));
    await exited;
  }
  await recordedExit(records, rec);
  return true;
}

/**
 * A container waiting out its restart delay: the request left for its holder cancels the
 * restart; should the delay have ended first, the run it began is stopped as any other.
 */
async function stopRestarting(records: ContainerRecords, rec: ContainerRecord, signal: string, timeoutSec: number, kind: 'stop' | 'restart'): Promise<boolean> {
  leaveRequest(records.containerDir(rec.id), { kind, canceled: kind === 'stop' });
  const now = await untilRecord(records, rec.id, (r) => (!r || !isLive(r) ? null : r.state === 'running' ? r : undefined));
  return now ? stopContainer(records, now, signal, timeoutSec, kind) : true;
}

/**
 * A run that has just ended while its holder still lives: it may yet restart it (docker's daemon
 * decides a stop and a restart under one lock; here the request decides). The request makes the
 * holder's decision "stopped by hand"; should it have begun the next run first, that run is
 * stopped as any other. A request no holder is left to read is taken back.
 */
async function stopBeforeRestart(records: ContainerRecords, rec: ContainerRecord, signal: string, timeoutSec: number): Promise<boolean> {
  const dir = records.containerDir(rec.id);
  leaveRequest(dir, { kind: 'stop', canceled: true });
  const now = await untilRecord(records, rec.id, (r) => (!r || !holderAlive(r) ? null : r.state === 'running' ? r : undefined));
  if (now) return stopContainer(records, now, signal, timeoutSec, 'stop');
  takeRequest(dir);
  return false;
}

/**
 * Waits until the holder has written down the exit of the run `rec` describes (its state left
 * running, or a new run began), or the holder is gone. Returns the record then (undefined once
 * removed: --rm).
 */
export async function recordedExit(records: ContainerRecords, rec: ContainerRecord): Promise<ContainerRecord | undefined> {
  return (await untilRecord(records, rec.id, (now) => (!now ? null : now.state !== 'running' || now.started !== rec.started || !holderAlive(now) ? now : undefined))) ?? undefined;
}

/** Waits until a container the holder is restarting runs again (or is down for good). */
export async function recordedRestart(records: ContainerRecords, rec: ContainerRecord): Promise<ContainerRecord | undefined> {
  const done = (now: ContainerRecord): boolean => !holderAlive(now) || now.state === 'exited' || now.state === 'created' || (now.state === 'running' && now.started !== rec.started);
  return (await untilRecord(records, rec.id, (now) => (!now ? null : done(now) ? now : undefined))) ?? undefined;
}

/** docker's message for a container that must run for the verb. */
export function notRunning(rec: ContainerRecord, verb: string): KilnError {
  return new KilnError('NOT_RUNNING', `${verb}: Container ${rec.id} is not running`);
}
