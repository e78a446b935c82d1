/**
 * A lock shared by every kiln process using one store: a lock file created with O_EXCL holding
 * "PID-START token". A holder that died leaves a stale file, detected because its process no longer
 * runs (pid and start time, so a reused pid does not keep it);
 * breaking it is itself guarded by a second O_EXCL file so two waiters can never both break the
 * lock and then both believe they hold it. Inside one process, callers queue on a promise chain
 * first, so the file is only contended between processes. The lock file's few calls are sync:
 * each takes microseconds, a thread-pool round trip per call cost more.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomHex } from '../lazyCrypto.js';
import { parseTag, selfTag, tagAlive } from '../processIdentity.js';

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** Whether the process a lock file names (`PID-START token`, or an older `PID token`) still runs. */
function holderAlive(held: string): boolean {
  const tag = parseTag(held);
  return tag !== undefined && tagAlive(tag);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A breaker file older than this belongs to a process that died mid-break. */
const BREAKER_STALE_MS = 10_000;

export class StoreLock {
  readonly path: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Runs fn while holding the lock. Not reentrant: do not call withLock from inside fn. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.queue;
    let done!: () => void;
    this.queue = new Promise<void>((r) => { done = r; });
    await previous;
    try {
      const token = await this.acquire();
      try {
        return await fn();
      } finally {
        await this.release(token);
      }
    } finally {
      done();
    }
  }

  /** Takes the lock until the returned function is called: for a hold that spans callbacks. */
  async hold(): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    let taken!: () => void;
    const acquired = new Promise<void>((r) => { taken = r; });
    const held = this.withLock(async () => { taken(); await released; });
    await Promise.race([acquired, held]);
    return async () => { release(); await held; };
  }

  private async acquire(): Promise<string> {
    const token = `${selfTag()} ${randomHex(8)}\n`;
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o644);
        try { writeSync(fd, token); } finally { closeSync(fd); }
        return token;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = readOrUndefined(this.path);
      if (held !== undefined && held.endsWith('\n') && !holderAlive(held)) {
        await this.breakStale(held);
        continue;
      }
      await sleep(Math.min(5 * 2 ** Math.min(attempt, 5), 100) + Math.random() * 5);
    }
  }

  private async breakStale(seen: string): Promise<void> {
    const breaker = `${this.path}.break`;
    let fd;
    try {
      fd = openSync(breaker, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let st;
      try { st = statSync(breaker); } catch { st = undefined; }
      if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) unlinkQuietly(breaker);
      await sleep(5);
      return;
    }
    try {
      // Only breakers remove a stale lock, and there is one breaker at a time: if the file
      // still holds what we saw, nobody else can have replaced it before our unlink.
      if (readOrUndefined(this.path) === seen) unlinkQuietly(this.path);
    } finally {
      closeSync(fd);
      unlinkQuietly(breaker);
    }
  }

  private async release(token: string): Promise<void> {
    if (readOrUndefined(this.path) === token) unlinkSync(this.path);
  }
}
