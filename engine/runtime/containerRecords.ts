/**
 * The containers `kiln run` made, for `kiln ps` and `kiln rm`: one directory per container under
 * the store root (containers/<id>/) with its record (container.json, replaced atomically) and its
 * writable layer (upper/, work/). A container whose kiln process died is shown as exited; one
 * started with --rm whose kiln was killed (SIGKILL skips its clean-up) is removed by the next
 * command that lists containers, as docker's daemon removes an auto-remove container whatever
 * happened to its client. A container is made whole in a temp dir and renamed into place, so a
 * kill mid-create leaves only a temp dir of a dead process, which goes the same way.
 * The files are small and few: sync calls, since a thread-pool round trip per operation cost
 * more than the operations themselves on `kiln run`'s path.
 */
import { randomHex } from '../lazyCrypto.js';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { processAlive } from '../processAlive.js';
import { parseTag, selfTag, tagAlive } from '../processIdentity.js';

export interface ContainerRecord {
  id: string;
  name: string;
  /** The image as the user named it, and its ID. */
  image: string;
  imageId: string;
  command: string[];
  created: string;
  state: 'created' | 'running' | 'exited';
  /** Host pid of the kiln process that runs it (alive while running). */
  ownerPid?: number;
  /** That process as `PID-START`, which outlives pid reuse (records of older kilns lack it). */
  owner?: string;
  /** --rm: removed when it exits, or by the next listing once its kiln is gone. */
  autoRemove?: boolean;
  /** Host pid of the container's PID 1 while running. */
  pid?: number;
  exitCode?: number;
  finished?: string;
  /** Ports published to the host while it runs (`kiln port`). */
  ports?: { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }[];
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nimble', 'quiet', 'sharp', 'tender', 'vivid', 'warm', 'zen'];
const NOUNS = ['ada', 'babbage', 'curie', 'dijkstra', 'euler', 'faraday', 'gauss', 'hopper', 'kepler', 'lovelace', 'noether', 'pascal', 'ritchie', 'turing'];

function pick(list: readonly string[]): string {
  return list[Number.parseInt(randomHex(1), 16) % list.length] as string;
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

  /** An empty lower dir for images without layers (overlay needs one), made when asked for. */
  emptyLowerDir(id: string): string {
    const dir = join(this.dir, id, 'empty');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /**
   * Creates the record (running, owned by this process) and the writable layer, in a temp dir
   * renamed into place. Call under the store lock (names are unique).
   */
  async create(fields: { name?: string; image: string; imageId: string; command: string[]; autoRemove?: boolean }): Promise<ContainerRecord> {
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
    const record: ContainerRecord = {
      id, name, image: fields.image, imageId: fields.imageId, command: fields.command, created: new Date().toISOString(), state: 'running',
      ownerPid: process.pid, owner: selfTag(), ...(fields.autoRemove ? { autoRemove: true } : {}),
    };
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
    await this.write(next);
    return next;
  }

  /** Every container, newest first; those a killed kiln left that nobody may see again are removed. */
  async list(): Promise<ContainerRecord[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: ContainerRecord[] = [];
    for (const name of names) {
      if (name.startsWith('.')) {
        this.removeIfAbandoned(name);
        continue;
      }
      let rec: ContainerRecord;
      try {
        rec = JSON.parse(readFileSync(join(this.dir, name, 'container.json'), 'utf8')) as ContainerRecord;
      } catch {
        continue; // being removed right now
      }
      if (rec.state === 'running' && !ownerRuns(rec)) {
        if (rec.autoRemove) {
          await this.remove(rec.id);
          continue;
        }
        rec.state = 'exited';
      }
      out.push(rec);
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
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

  async remove(id: string): Promise<void> {
    rmSync(this.containerDir(id), { recursive: true, force: true });
  }
}

/** Whether the kiln process running a container still runs (by its tag where the record has one). */
function ownerRuns(rec: ContainerRecord): boolean {
  const tag = rec.owner !== undefined ? parseTag(rec.owner) : undefined;
  return tag !== undefined ? tagAlive(tag) : processAlive(rec.ownerPid);
}
