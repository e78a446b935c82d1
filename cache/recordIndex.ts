/**
 * The persisted cache index: step key → what the step produced (its layers' diff_ids and
 * whatever the build needs to continue from there, e.g. the image config after it).
 *
 * One small JSON file per record, written atomically (temp + fsync + rename), so any
 * number of concurrent builds share the index without a lock: two builds that make the
 * same key write equal records and the last rename wins; a reader sees a whole record or
 * none. A record's mtime is bumped on every hit, which is what `kiln prune` ages by.
 */
import { readdirSync, readFileSync, utimesSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { stageFileAtomic, writeFileAtomic, type StagedFile } from '../engine/store/atomicFile.js';
import { listFoundDirectory } from '../engine/host/directoryListing.js';
import { isCacheKey, recordLayers, type CacheRecord } from './record.js';

export interface CacheRecordInfo {
  key: string;
  diffIds: string[];
  /** Every layer the record needs: the ones it added and the stack a hit restores. */
  layers: string[];
  /** Bytes of the record file itself. */
  size: number;
  /** Last time a build made or used it. */
  lastUsed: Date;
}

/** A record's file as its directory's listing shows it, before it is read. */
export interface RecordFileEntry {
  key: string;
  file: string;
  /** Bytes of the record file. */
  size: number;
  /** Last time a build made or used it (the file's mtime). */
  lastUsedMs: number;
}

export class CacheIndex {
  readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'cache', 'records');
  }

  private file(key: string): string {
    if (!isCacheKey(key)) throw new Error(`not a cache key: ${key}`);
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** The record, marked as used now (what prune ages by). */
  async get(key: string): Promise<CacheRecord | undefined> {
    const record = await this.peek(key);
    if (!record) return undefined;
    const now = new Date();
    try { utimesSync(this.file(key), now, now); } catch { /* pruned meanwhile: still a valid hit */ }
    return record;
  }

  /**
   * The record, without marking it used. Read synchronously: a record is a few hundred bytes,
   * and a cached rebuild reads one per step in a chain, where each asynchronous read would cost
   * four thread-pool round trips.
   */
  async peek(key: string): Promise<CacheRecord | undefined> {
    const file = this.file(key);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    let record: CacheRecord;
    try {
      record = JSON.parse(text) as CacheRecord;
    } catch {
      return undefined; // cannot happen with atomic writes, unless someone edited it: a miss
    }
    if (record.key !== key || !Array.isArray(record.diffIds)) return undefined;
    return record;
  }

  /** The record's file written and fsynced, to be published (renamed into place) later. */
  stage(record: CacheRecord): Promise<StagedFile> {
    return stageFileAtomic(this.file(record.key), JSON.stringify(record));
  }

  async put(record: CacheRecord): Promise<void> {
    await writeFileAtomic(this.file(record.key), JSON.stringify(record));
  }

  async remove(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  /** The key of every record file, readable or not (for kiln check). */
  async keys(): Promise<string[]> {
    const out: string[] = [];
    for (const shard of await readdir(this.dir).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.dir, shard)).catch(() => [] as string[])) {
        if (name.endsWith('.json') && isCacheKey(name.slice(0, -5))) out.push(name.slice(0, -5));
      }
    }
    return out;
  }

  /**
   * Every record file with its size and age, read from the listing's lstat alone (a shard is
   * listed with its entries' lstat in one call): what prune decides most records by, without
   * reading them. Records written while we list may be missed.
   */
  entries(): RecordFileEntry[] {
    const out: RecordFileEntry[] = [];
    let shards: string[];
    try {
      shards = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const shard of shards) {
      for (const { name, stats } of listFoundDirectory(join(this.dir, shard))) {
        if (!name.endsWith('.json') || !stats.isFile()) continue;
        const key = name.slice(0, -5);
        if (isCacheKey(key)) out.push({ key, file: join(this.dir, shard, name), size: stats.size, lastUsedMs: stats.mtimeMs });
      }
    }
    return out;
  }

  /**
   * The record behind an entry, read synchronously, as peek (thousands of tiny files); undefined
   * when it went meanwhile or does not parse.
   */
  read(entry: RecordFileEntry): CacheRecordInfo | undefined {
    try {
      const record = JSON.parse(readFileSync(entry.file, 'utf8')) as CacheRecord;
      return { key: entry.key, diffIds: record.diffIds, layers: recordLayers(record), size: entry.size, lastUsed: new Date(Math.round(entry.lastUsedMs)) };
    } catch {
      return undefined;
    }
  }

  /** Every record, for system df. Records written while we list may be missed. */
  async list(): Promise<CacheRecordInfo[]> {
    return this.entries().flatMap((e) => this.read(e) ?? []);
  }
}
