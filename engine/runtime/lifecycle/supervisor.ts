/**
 * The supervisor of a detached container: a kiln process of its own (`kiln supervise`, started
 * by `kiln run -d`, `kiln start` and `kiln restart`, in a session of its own so it outlives the
 * command) that holds one container as conmon or containerd-shim do. It starts the container
 * as `kiln run` would, writes its output to the json-file log, keeps its record (running,
 * exit code and time, restarts), carries out its restart policy, serves the attach socket,
 * and holds the image's content (a lease) while it runs. Killed outright, it takes its
 * container with it (the parent-death signal) and the next kiln command sweeps what is left.
 */
import { closeSync, openSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../../errors/kilnError.js';
import { parseTag, processStartTime, selfTag, tagAlive } from '../../host/processIdentity.js';
import { runContainer, type RunningContainer } from '../container.js';
import { ContainerRecords, thisHolder, type ContainerRecord } from '../containerRecords.js';
import { AttachHub } from './attachHub.js';
import { leaveRequest, peekRequest, takeRequest } from './holderRequest.js';
import { JsonLogWriter } from './jsonLog.js';
import { nowNanos, rfc3339Nano } from './logClock.js';
import { RestartManager } from './restartPolicy.js';
import { DEFAULT_STOP_TIMEOUT, readStoredContainer, type StoredContainer } from './storedContainer.js';

/**
 * Holds content the container uses (its image, its volumes' sources) from before it starts until
 * the returned release is called: the store's lease, handed in so the runtime knows no store.
 */
export type HoldContent = (names: readonly string[]) => Promise<() => void>;

/** How the first start went, for the command that launched the supervisor. */
export type StartReport = { ok: true; pid: number } | { ok: false; code: string; message: string; exitCode: number };

const RESTART_POLL_MS = 50;

function now(): string {
  return rfc3339Nano(nowNanos());
}

/** The record keeper of one container: every change is written at once. */
class RecordKeeper {
  constructor(private readonly records: ContainerRecords, public record: ContainerRecord) {}

  async set(patch: Partial<ContainerRecord>): Promise<void> {
    this.record = await this.records.update(this.record, patch);
  }
}

/**
 * Holds container `id` until it is down for good. `report` is called once, when the first start
 * has executed the container's command or failed.
 */
export async function superviseContainer(storeRoot: string, id: string, report: (r: StartReport) => void, holdContent: HoldContent): Promise<void> {
  const records = new ContainerRecords(storeRoot);
  const dir = records.containerDir(id);
  const initial = records.read(id);
  if (!initial) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${id}`);
  const stored = readStoredContainer(dir, id);
  const releaseClaim = claimContainer(dir, id);
  const keeper = new RecordKeeper(records, initial);
  const releaseContent = await holdContent([initial.imageId, ...stored.holds]);
  const logFd = openSync(records.logPath(id), 'a', 0o640);
  const log = new JsonLogWriter(logFd);
  let running: RunningContainer | undefined;
  let input: PassThrough | undefined;
  const hub = new AttachHub(dir, { input: () => input, resize: (r, c) => running?.resize(r, c) });
  let reported = false;
  const tell = (r: StartReport): void => {
    if (reported) return;
    reported = true;
    report(r);
  };
  const stopOnTerm = (): void => stopFromSignal(running, stored, dir);
  process.on('SIGTERM', stopOnTerm);
  try {
    await hub.listen();
    const restarts = new RestartManager(stored.restartPolicy, initial.restartCount ?? 0);
    for (;;) {
      const startedAt = Date.now();
      input = stored.openStdin ? new PassThrough() : undefined;
      const outcome = await startOnce(stored, keeper, log, hub, input, (c) => { running = c; }, (pid) => tell({ ok: true, pid }));
      running = undefined;
      log.end();
      if ('error' in outcome) {
        const e = outcome.error;
        const exitCode = e instanceof KilnError ? e.exitCode : 125;
        // As docker: a container whose first start failed stays created, with the error.
        await keeper.set({ state: reported ? 'exited' : 'created', exitCode, error: e.message, finished: now(), pid: undefined, pidStart: undefined, cgroupDirs: undefined });
        tell({ ok: false, code: e instanceof KilnError ? e.code : 'CONTAINER_START', message: e.message, exitCode });
        hub.exited(exitCode);
        break;
      }
      const request = takeRequest(dir);
      // A restart asked for keeps it live: `kiln restart` waits for the next run, not this exit.
      await keeper.set({
        state: request?.kind === 'restart' ? 'restarting' : 'exited', exitCode: outcome.exitCode, oomKilled: outcome.oomKilled, finished: now(),
        pid: undefined, pidStart: undefined, cgroupDirs: undefined,
      });
      hub.exited(outcome.exitCode);
      if (request?.kind === 'restart') continue;
      const delay = restarts.decide(outcome.exitCode, { canceled: request?.canceled ?? false, stoppedByHand: request !== undefined }, Date.now() - startedAt);
      if (delay === undefined) break;
      await keeper.set({ state: 'restarting', restartCount: restarts.count });
      if (!(await restartDelay(dir, delay))) {
        takeRequest(dir);
        await keeper.set({ state: 'exited' });
        break;
      }
    }
  } catch (err) {
    const message = (err as Error).message;
    tell({ ok: false, code: 'SUPERVISOR', message, exitCode: 125 });
    await keeper.set({ state: 'exited', error: `the supervisor failed: ${message}`, finished: now() }).catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGTERM', stopOnTerm);
    releaseClaim();
    hub.close();
    closeSync(logFd);
    releaseContent();
    if (stored.autoRemove) await records.remove(id);
  }
}

/**
 * Makes this process the container's only supervisor (containers/<id>/supervisor, a link naming
 * it by pid and start time): two `kiln start` at once leave one supervisor and one clear error.
 * A dead supervisor's claim is taken over.
 */
function claimContainer(dir: string, id: string): () => void {
  const claim = join(dir, 'supervisor');
  for (;;) {
    try {
      symlinkSync(selfTag(), claim);
      return () => { try { unlinkSync(claim); } catch { /* gone with the container */ } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: string | undefined;
    try { owner = readlinkSync(claim); } catch { continue; }
    const tag = parseTag(owner);
    if (tag && tagAlive(tag)) throw new KilnError('RUNNING', `Container ${id} is already running (its supervisor is pid ${tag.pid})`, { exitCode: 1 });
    try { unlinkSync(claim); } catch { /* another took it over */ }
  }
}

type Outcome = { exitCode: number; oomKilled: boolean } | { error: Error };

/** One run of the container: resolves with its exit, or the error that stopped its start. */
async function startOnce(
  stored: StoredContainer, keeper: RecordKeeper, log: JsonLogWriter, hub: AttachHub, input: PassThrough | undefined,
  onRunning: (c: RunningContainer) => void, onExecuted: (pid: number) => void,
): Promise<Outcome> {
  let pid = 0;
  let noted: Promise<void> = Promise.resolve();
  const out = (stream: 'stdout' | 'stderr') => (chunk: Buffer): void => {
    log.push(stream, chunk);
    hub.output(stream, chunk);
  };
  try {
    const result = await runContainer({ ...stored.spec, stdio: stored.tty ? 'pty' : 'pipe', stdin: input && !stored.tty ? 'pipe' : 'null' }, {
      onStdout: out('stdout'),
      onStderr: out('stderr'),
      onStart: (c) => {
        pid = c.pid;
        onRunning(c);
        const pidStart = processStartTime(c.pid);
        noted = keeper.set({
          state: 'running', ...thisHolder(), detached: true, pid: c.pid, ...(pidStart !== undefined ? { pidStart } : {}),
          cgroupDirs: [...c.cgroupDirs], ports: [...c.ports], started: now(), error: undefined, exitCode: undefined, oomKilled: undefined,
        });
      },
      onExecuted: () => { void noted.then(() => onExecuted(pid)); },
      ...(input ? { input } : {}),
      ...(input && stored.tty ? { terminal: { input } } : {}),
    });
    await noted;
    return result;
  } catch (err) {
    await noted.catch(() => undefined);
    return { error: err as Error };
  }
}

/** Waits out a restart delay; false when a stop or kill came meanwhile (no restart then). */
async function restartDelay(dir: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const request = peekRequest(dir);
    if (request?.canceled) return false;
    await sleep(Math.min(RESTART_POLL_MS, until - Date.now()));
  }
  return peekRequest(dir)?.canceled !== true;
}

/** SIGTERM to the supervisor (a shutdown): the container is stopped as `kiln stop` would, and not restarted. */
function stopFromSignal(running: RunningContainer | undefined, stored: StoredContainer, dir: string): void {
  leaveRequest(dir, { kind: 'stop', canceled: true });
  if (!running) return;
  running.signal(stored.stopSignal as NodeJS.Signals);
  setTimeout(() => running.signal('SIGKILL'), (stored.stopTimeout ?? DEFAULT_STOP_TIMEOUT) * 1000).unref();
}
