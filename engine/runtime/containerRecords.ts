/**
 * The containers `kiln run` made, for `kiln ps`, `rm`, `logs`, `stop` and the rest: one directory
 * per container under the store root (containers/<id>/) with its record (container.json,
 * replaced atomically), its writable layer (upper/, work/), what it was started with
 * (config.json, lifecycle/storedContainer.ts), its json-file log and, while a supervisor holds
 * it, that supervisor's attach socket.
 *
 * A record names the process holding the container while it runs (a foreground `kiln run`, or
 * the supervisor of a detached one) by pid and start time. A holder that died (kill -9) took
 * its container with it (the parent-death signal): such a record reads as exited (137), and
 * `sweepDeadHolders` writes that down once the holder is verifiably gone.
 * The files are small and few: sync calls, since a thread-pool round trip per operation cost
 * more than the operations themselves on `kiln run`'s path.
 */
import { randomHex } from '../host/randomHex.js';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { parseTag, processStartTime, selfTag, tagAlive } from '../host/processIdentity.js';

/** What a record stores; `paused` is read from the freezer, never stored. */
export type StoredState = 'created' | 'running' | 'restarting' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  /** The image as the user named it, and its ID. */
  image: string;
  imageId: string;
  command: string[];
  created: string;
  state: StoredState;
  /** Host pid and start time of the kiln process holding it (alive while running). */
  ownerPid?: number;
  ownerStart?: string;
  /** True when a supervisor holds it (kiln run -d, kiln start): it has a log and an attach socket. */
  detached?: boolean;
  /** Host pid of the container's PID 1 while running, and that process's start time. */
  pid?: number;
  pidStart?: string;
  /** The cgroup directories of the running container (exec, pause and stats use them). */
  cgroupDirs?: string[];
  /** RFC 3339 (nanoseconds) times of the last start and exit. */
  started?: string;
  finished?: string;
  exitCode?: number;
  oomKilled?: boolean;
  /** Why the last start failed, or what ended the container other than itself. */
  error?: string;
  restartCount?: number;
  /** --rm: removed when it exits, or by the next listing once its holder is gone. */
  autoRemove?: boolean;
  /** Ports published to the host while it runs (`kiln port`). */
  ports?: { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }[];
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nimble', 'quiet', 'sharp', 'tender', 'vivid', 'warm', 'zen'];
const NOUNS = ['ada', 'babbage', 'curie', 'dijkstra', 'euler', 'faraday', 'gauss', 'hopper', 'kepler', 'lovelace', 'noether', 'pascal', 'ritchie', 'turing'];
const LIVE_STATES: readonly StoredState[] = ['running', 'restarting'];
/** The status a container gets when the process holding it was killed: SIGKILL's. */
export const HOLDER_DIED_EXIT_CODE = 137;

function pick(list: readonly string[]): string {
  return list[Number.parseInt(randomHex(1), 16) % list.length] as string;
}

/** True while the process holding a live record still runs (a reused pid does not count). */
export function holderAlive(record: ContainerRecord): boolean {
  if (record.ownerPid === undefined) return false;
  return tagAlive({ pid: record.ownerPid, start: record.ownerStart });
}

/** True when the record says running or restarting and its holder is there to keep it so. */
export function isLive(record: ContainerRecord): boolean {
  return LIVE_STATES.includes(record.state) && holderAlive(record);
}

/** The process running this code, as a record names its holder. */
export function thisHolder(): { ownerPid: number; ownerStart?: string } {
  const start = processStartTime(process.pid);
  return { ownerPid: process.pid, ...(start !== undefined ? { ownerStart: start } : {}) };
}

export class ContainerRecords {
  readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'containers');
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  upperDir(id: string): string {
    return join(this.dir, id, 'upper');
  }

  workDir(id: string): string {
    return join(this.dir, id, 'work');
  }

  /** docker's name for the json-file log. */
  logPath(id: string): string {
    return join(this.dir, id, `${id}-json.log`);
  }

  /** An empty lower dir for images without layers (overlay needs one), made when asked for. */
  emptyLowerDir(id: string): string {
    const dir = join(this.dir, id, 'empty');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /**
   * Creates the record (running, owned by `ownerPid`, or created when `state` says so) and the
   * writable layer. Call under the store lock (names are unique).
   */
  async create(fields: { name?: string; image: string; imageId: string; command: string[]; ownerPid?: number; ownerStart?: string; state?: StoredState; autoRemove?: boolean }): Promise<ContainerRecord> {
    const existing = await this.list();
    let name = fields.name;
    if (name !== undefined) {
      const clash = existing.find((c) => c.name === name);
      if (clash) {
        throw new KilnError('NAME_IN_USE', `Conflict. The container name "/${name}" is already in use by container "${clash.id}". You have to remove (or rename) that container to be able to reuse that name.`, { exitCode: 125 });
      }
    } else {
      do name = `${pick(ADJECTIVES)}_${pick(NOUNS)}`; while (existing.some((c) => c.name === name));
    }
    const id = randomHex(32);
    const ownerStart = fields.ownerStart ?? (fields.ownerPid !== undefined ? processStartTime(fields.ownerPid) : undefined);
    const record: ContainerRecord = {
      id, name, image: fields.image, imageId: fields.imageId, command: fields.command, created: new Date().toISOString(), state: fields.state ?? 'running',
      ...(fields.ownerPid !== undefined ? { ownerPid: fields.ownerPid } : {}),
      ...(ownerStart !== undefined ? { ownerStart } : {}),
      ...(fields.autoRemove ? { autoRemove: true } : {}),
    };
    // Made whole in a temp dir renamed into place: a kill mid-create leaves only a temp dir of a dead process.
    const staging = join(this.dir, `.${id}.${selfTag()}.tmp`);
    mkdirSync(join(staging, 'upper'), { recursive: true, mode: 0o755 });
    mkdirSync(join(staging, 'work'), { mode: 0o700 });
    writeFileSync(join(staging, 'container.json'), JSON.stringify(record, null, 2) + '\n');
    renameSync(staging, this.containerDir(id));
    return record;
  }

  async write(record: ContainerRecord): Promise<void> {
    const file = join(this.containerDir(record.id), 'container.json');
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
    renameSync(tmp, file);
  }

  async update(record: ContainerRecord, patch: Partial<ContainerRecord>): Promise<ContainerRecord> {
    const next = { ...record, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete (next as Record<string, unknown>)[k];
    await this.write(next);
    return next;
  }

  /** The record as stored, or undefined (removed, or being created). */
  read(id: string): ContainerRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, id, 'container.json'), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  /** Every record, newest first; one whose holder died reads as exited (137). */
  async list(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      if (id.startsWith('.')) {
        this.removeIfAbandoned(id);
        continue;
      }
      const rec = this.read(id);
      if (!rec) continue;
      // --rm whose holder was killed: removed, as docker's daemon removes an auto-remove container whatever happened to its client.
      if (rec.autoRemove && rec.ownerPid !== undefined && !holderAlive(rec)) {
        await this.remove(rec.id);
        continue;
      }
      out.push(withHolderChecked(rec));
    }
    // Newest first. RFC 3339 times of one shape order as strings; localeCompare's first call loads ICU's collator (~10 ms of every kiln stop or rm).
    return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /**
   * Writes down the end of containers whose holder died without saying so (kill -9): exited,
   * 137, finished now. Only records whose holder is verifiably gone are touched.
   */
  async sweepDeadHolders(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = readdirSync(this.dir);
    } catch {
      return [];
    }
    const swept: ContainerRecord[] = [];
    for (const id of ids) {
      const rec = this.read(id);
      if (!rec || !LIVE_STATES.includes(rec.state) || rec.ownerPid === undefined || holderAlive(rec)) continue;
      swept.push(await this.update(rec, diedPatch(rec)));
    }
    return swept;
  }

  /** A container a kiln was creating when it was killed (`.ID.PID-START.tmp`). */
  private removeIfAbandoned(name: string): void {
    const m = /^\.[0-9a-f]{64}\.(\d+-\d+)\.tmp$/.exec(name);
    const tag = m ? parseTag(m[1] as string) : undefined;
    if (tag !== undefined && !tagAlive(tag)) rmSync(join(this.dir, name), { recursive: true, force: true });
  }

  /** By full or unique short id, or by name. */
  async find(idOrName: string): Promise<ContainerRecord | undefined> {
    const all = await this.list();
    const wanted = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    const byName = all.find((c) => c.name === wanted);
    if (byName) return byName;
    const byId = all.filter((c) => c.id.startsWith(wanted));
    if (byId.length > 1) throw new KilnError('AMBIGUOUS', `multiple containers found with provided prefix: ${wanted}`);
    return wanted.length > 0 ? byId[0] : undefined;
  }

  /** Like find, but a missing container is docker's "No such container" error. */
  async get(idOrName: string): Promise<ContainerRecord> {
    const found = await this.find(idOrName);
    if (!found) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${idOrName}`);
    return found;
  }

  async remove(id: string): Promise<void> {
    rmSync(this.containerDir(id), { recursive: true, force: true });
  }
}

function diedPatch(rec: ContainerRecord): Partial<ContainerRecord> {
  return {
    state: 'exited', exitCode: HOLDER_DIED_EXIT_CODE, finished: new Date().toISOString(),
    error: `the kiln process holding the container (pid ${rec.ownerPid}) died`,
    pid: undefined, pidStart: undefined, cgroupDirs: undefined,
  };
}

/** The record as it reads to a user: one whose holder died without saying so is exited (137). */
export function withHolderChecked(rec: ContainerRecord): ContainerRecord {
  if (!LIVE_STATES.includes(rec.state) || holderAlive(rec)) return rec;
  return { ...rec, ...diedPatch(rec) };
}
