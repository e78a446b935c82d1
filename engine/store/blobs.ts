/**
 * Content-addressed, immutable blobs: blobs/sha256/<hex>. Content is hashed while it streams to
 * a temp file in the store, fsynced, verified against what the caller expected, then renamed
 * into place. Two processes ingesting the same content both succeed; the second rename lands
 * identical bytes.
 */
import { chmod, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import { createReadStream, lstatSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { nodeCrypto } from '../host/nodeCrypto.js';
import { randomHex } from '../host/randomHex.js';
import { KilnError } from '../errors/kilnError.js';
import { refusal } from '../errors/refusal.js';
import { selfTag } from '../host/processIdentity.js';
import { fsyncDir, fsyncFile, writeNewFileSync, writeTempFile } from './atomicFile.js';
import type { WriteBehind } from './writeBehind.js';

export interface BlobInfo {
  /** `sha256:<hex>` */
  digest: string;
  size: number;
}

export interface IngestOptions {
  /** Refuse (and keep nothing) when the content's digest differs. */
  expectedDigest?: string;
  expectedSize?: number;
  /** Names the source in error messages (an archive path, a URL). */
  source?: string;
  /** What the blob is, for messages ("a layer"); "a blob" when not said. */
  what?: string;
  /**
   * Hands each chunk of the source back once it is hashed and written, for the source to fill
   * again: fresh memory is dear (each page costs a fault), and a layer is megabytes of chunks.
   */
  release?: (chunk: Uint8Array) => void;
}

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

export function hexOf(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new KilnError('INVALID_DIGEST', `invalid digest "${digest}" (kiln stores sha256 digests)`);
  return m[1] as string;
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Refuses content whose digest or size is not what the caller expected. */
function checkExpected(info: BlobInfo, opts: IngestOptions): void {
  const from = opts.source ? ` from ${opts.source}` : '';
  if (opts.expectedDigest !== undefined && opts.expectedDigest !== info.digest) {
    throw new KilnError('DIGEST_MISMATCH', `digest mismatch${from}: expected ${opts.expectedDigest}, got ${info.digest}`);
  }
  if (opts.expectedSize !== undefined && opts.expectedSize !== info.size) {
    throw new KilnError('SIZE_MISMATCH', `size mismatch${from} for ${info.digest}: expected ${opts.expectedSize} bytes, got ${info.size}`);
  }
}

/** What counts as a small blob: one of the tar writer's chunks. */
const SMALL_BLOB = 1 << 20;

/**
 * Reads ahead: a source that ends within its first chunk, up to SMALL_BLOB bytes, comes back
 * whole; any other as a stream that replays what was read and goes on with the rest. What the
 * source throws while read ahead is its own failure, as when streamed.
 */
async function smallOrStream(source: AsyncIterable<Uint8Array | string>): Promise<{ small: Uint8Array; stream?: undefined } | { small?: undefined; stream: AsyncIterable<Uint8Array | string> }> {
  const chunks = source[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done) return { small: new Uint8Array(0) };
  const firstBytes = typeof first.value === 'string' ? Buffer.from(first.value) : first.value;
  const second = firstBytes.byteLength <= SMALL_BLOB ? await chunks.next() : undefined;
  if (second?.done) return { small: firstBytes };
  return {
    stream: (async function* () {
      let finished = false;
      try {
        yield firstBytes;
        if (second) yield second.value;
        for (let r = await chunks.next(); !r.done; r = await chunks.next()) yield r.value;
        finished = true;
      } finally {
        if (!finished) await chunks.return?.();
      }
    })(),
  };
}

export class BlobStore {
  readonly dir: string;
  private readonly tmpDir: string;

  /** Blobs ingested behind (see ingestBehind) until they have landed, by digest. */
  private readonly landing = new Map<string, Promise<void>>();

  /**
   * `hold`: takes a digest into the store's lease before the blob is looked at or moved into
   * place, so a concurrent collection never removes what this process just wrote (see leases.ts).
   */
  constructor(private readonly root: string, tmpDir: string, private readonly behind?: WriteBehind, private readonly hold: (names: string[]) => Promise<void> = async () => undefined) {
    this.dir = join(root, 'blobs', 'sha256');
    this.tmpDir = tmpDir;
  }

  /** A blob this process is still landing is waited for: readers here see it as soon as it is in place. */
  private async landed(digest: string): Promise<void> {
    const pending = this.landing.get(digest);
    if (pending) await pending;
  }

  path(digest: string): string {
    return join(this.dir, hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    await this.landed(digest);
    return this.inPlace(digest);
  }

  /**
   * Whether the blob's file is there now (not waiting for one this process is landing). One sync
   * lstat that reports a missing file without an exception: a new blob is the common case here.
   */
  private async inPlace(digest: string): Promise<boolean> {
    return lstatSync(this.path(digest), { throwIfNoEntry: false }) !== undefined;
  }

  async size(digest: string): Promise<number> {
    await this.landed(digest);
    return (await stat(this.path(digest))).size;
  }

  /** A readable stream of the blob; a KilnError when the store lacks it. */
  async open(digest: string): Promise<Readable> {
    const p = this.path(digest);
    if (!(await this.has(digest))) throw new KilnError('BLOB_UNKNOWN', `blob ${digest} is not in the store`);
    return createReadStream(p);
  }

  async ingest(source: AsyncIterable<Uint8Array | string>, opts: IngestOptions = {}): Promise<BlobInfo> {
    const { tmp, info } = await this.receive(source, opts, true);
    try {
      await this.adopt(tmp, info.digest);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return info;
  }

  /**
   * Like ingest, but returns as soon as the content is hashed, checked and written to its temp
   * file: the fsync and the rename into place run behind, on the store's write queue. Nothing is
   * visible under the digest before it is durable; has/size/open in this process wait for it.
   */
  async ingestBehind(source: AsyncIterable<Uint8Array | string>, opts: IngestOptions = {}): Promise<BlobInfo> {
    const behind = this.behind;
    if (!behind) return this.ingest(source, opts);
    const read = await smallOrStream(source);
    const { tmp, info } = read.small ? this.receiveSmall(read.small, opts) : await this.receive(read.stream, opts, false);
    const landing = behind.add({
      prepare: () => fsyncFile(tmp),
      publish: () => this.adopt(tmp, info.digest),
      discard: () => unlink(tmp).catch(() => undefined),
    });
    this.landing.set(info.digest, landing);
    void landing.then(() => { if (this.landing.get(info.digest) === landing) this.landing.delete(info.digest); });
    return info;
  }

  /**
   * A small blob already whole in memory (a RUN step's few files, a COPY of a config file):
   * written to its temp file with sync calls. At the end of a step the thread pool is busy with
   * the last step's fsyncs and its container's teardown, and three round trips queued behind
   * them cost more than the writes. Not fsynced: the caller's write queue does that.
   */
  private receiveSmall(bytes: Uint8Array, opts: IngestOptions): { tmp: string; info: BlobInfo } {
    const tmp = join(this.tmpDir, `blob-${selfTag()}-${randomHex(8)}`);
    try {
      writeNewFileSync(tmp, bytes, 0o644);
    } catch (err) {
      try { unlinkSync(tmp); } catch { /* never made */ }
      throw refusal(err, { place: { kind: 'store', root: this.root }, what: `${opts.what ?? 'a blob'}${opts.source ? ` from ${opts.source}` : ''}`, writtenBytes: bytes.byteLength });
    }
    const info = { digest: `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`, size: bytes.byteLength };
    opts.release?.(bytes);
    try {
      checkExpected(info, opts);
    } catch (err) {
      try { unlinkSync(tmp); } catch { /* gone */ }
      throw err;
    }
    return { tmp, info };
  }

  /** Streams `source` into a temp file while hashing it, and checks what the caller expected. */
  private async receive(source: AsyncIterable<Uint8Array | string>, opts: IngestOptions, sync: boolean): Promise<{ tmp: string; info: BlobInfo }> {
    const tmp = join(this.tmpDir, `blob-${selfTag()}-${randomHex(8)}`);
    const hash = nodeCrypto().createHash('sha256');
    let size = 0;
    // What the source throws is the source's failure (a bad archive, a lost connection, a file
    // it could not read); what the writes throw is the store's (no space, read-only…).
    let sourceFailure: { error: unknown } | undefined;
    const chunks = source[Symbol.asyncIterator]();
    const next = async (): Promise<IteratorResult<Uint8Array | string>> => {
      try {
        return await chunks.next();
      } catch (error) {
        sourceFailure = { error };
        throw error;
      }
    };
    try {
      await writeTempFile(tmp, 0o644, async (fd) => {
        // Tar streams come in many small chunks (a header, a body, padding): gather them so
        // each write to disk is large.
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async (): Promise<void> => {
          if (pendingBytes === 0) return;
          const written = pending;
          const buf = written.length === 1 ? (written[0] as Uint8Array) : Buffer.concat(written, pendingBytes);
          pending = [];
          pendingBytes = 0;
          let off = 0;
          while (off < buf.byteLength) off += (await fd.write(buf, off, buf.byteLength - off)).bytesWritten;
          if (opts.release) for (const chunk of written) opts.release(chunk);
        };
        try {
          for (let r = await next(); !r.done; r = await next()) {
            const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
            hash.update(buf);
            size += buf.byteLength;
            pending.push(buf);
            pendingBytes += buf.byteLength;
            if (pendingBytes >= 1 << 20) await flush();
          }
          await flush();
        } catch (err) {
          if (sourceFailure === undefined) await chunks.return?.().catch(() => undefined);
          throw err;
        }
      }, { sync });
    } catch (err) {
      if (sourceFailure !== undefined && sourceFailure.error === err) throw err;
      throw refusal(err, {
        place: { kind: 'store', root: this.root },
        what: `${opts.what ?? 'a blob'}${opts.source ? ` from ${opts.source}` : ''}`,
        ...(opts.expectedSize !== undefined ? { neededBytes: opts.expectedSize } : { writtenBytes: size }),
      });
    }
    const info = { digest: `sha256:${hash.digest('hex')}`, size };
    try {
      checkExpected(info, opts);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { tmp, info };
  }

  async ingestBytes(bytes: Uint8Array, opts: IngestOptions = {}): Promise<BlobInfo> {
    return this.ingest((async function* () { yield bytes; })(), opts);
  }

  /**
   * Moves a file that the caller already hashed (on the store's filesystem, fsynced) into place
   * as `digest`. If the blob exists the file is dropped and the blob's time refreshed, so a
   * concurrent collection sees it as young.
   */
  async adopt(file: string, digest: string): Promise<void> {
    const target = this.path(digest);
    await this.hold([digest]);
    if (await this.inPlace(digest)) {
      await unlink(file).catch(() => undefined);
      const now = new Date();
      await utimes(target, now, now).catch(() => undefined);
      return;
    }
    await chmod(file, 0o444);
    await rename(file, target);
    await fsyncDir(this.dir);
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async remove(digest: string): Promise<void> {
    await unlink(this.path(digest)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
