/**
 * The containers `kiln run` made, for `kiln ps` and `kiln rm`: one directory per container under
 * the store root (containers/<id>/) with its record (container.json, replaced atomically) and its
 * writable layer (upper/, work/). A container whose kiln process died is shown as exited.
 * The files are small and few: sync calls, since a thread-pool round trip per operation cost
 * more than the operations themselves on `kiln run`'s path.
 */
import { randomHex } from '../lazyCrypto.js';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { processAlive } from '../processAlive.js';

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
   * Creates the record (running, owned by `ownerPid`) and the writable layer. Call under the
   * store lock (names are unique).
   */
  async create(fields: { name?: string; image: string; imageId: string; command: string[]; ownerPid: number }): Promise<ContainerRecord> {
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
    const record: ContainerRecord = { id, name, image: fields.image, imageId: fields.imageId, command: fields.command, created: new Date().toISOString(), state: 'running', ownerPid: fields.ownerPid };
    mkdirSync(this.upperDir(id), { recursive: true, mode: 0o755 });
    mkdirSync(this.workDir(id), { mode: 0o700 });
    await this.write(record);
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

  async list(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      try {
        const rec = JSON.parse(readFileSync(join(this.dir, id, 'container.json'), 'utf8')) as ContainerRecord;
        if (rec.state === 'running' && !processAlive(rec.ownerPid)) rec.state = 'exited';
        out.push(rec);
      } catch {
        // a container being created or removed right now
      }
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
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
