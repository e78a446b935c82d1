/**
 * The content digests of a build context's selections, remembered against the fingerprints of
 * what their walks read (listingFingerprint.ts): a rebuild whose walk reads the same listings
 * and lstats as an earlier one takes that walk's digest instead of making one entry per file.
 *
 * One small file per build-context directory, beside its stat cache: a line per selection,
 * `FINGERPRINT DIGEST` (32 hex characters each), the most recently remembered last, at most
 * MAX_ENTRIES of them. Saved atomically (temp + fsync + rename); two builds saving at once
 * is harmless (last one wins, both are correct); a missing or damaged file is an empty memo.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../engine/store/atomicFile.js';

const MAGIC = 'KDM1';
/** Distinct selections of one context remembered at most (each COPY/ADD of each Dockerfile is one). */
const MAX_ENTRIES = 256;
const LINE = /^[0-9a-f]{32} [0-9a-f]{32}$/;

export class DigestMemo {
  private readonly entries = new Map<string, string>();
  private dirty = false;

  private constructor(readonly file: string | undefined) {}

  /** A memo that is never saved (for --no-cache runs and tests). */
  static inMemory(): DigestMemo {
    return new DigestMemo(undefined);
  }

  /** Loads `file` if it exists and is whole; otherwise an empty memo. */
  static load(file: string): DigestMemo {
    const memo = new DigestMemo(file);
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      return memo;
    }
    const lines = text.split('\n');
    if (lines[0] !== MAGIC || lines[lines.length - 1] !== '') return memo;
    for (const line of lines.slice(1, -1)) {
      if (!LINE.test(line)) {
        memo.entries.clear(); // damaged: start over, it is only a cache
        return memo;
      }
      memo.entries.set(line.slice(0, 32), line.slice(33));
    }
    return memo;
  }

  /** How many selections are remembered. */
  get size(): number {
    return this.entries.size;
  }

  /** The digest remembered for `fingerprint`, if any. */
  get(fingerprint: string): string | undefined {
    return this.entries.get(fingerprint);
  }

  remember(fingerprint: string, digest: string): void {
    if (this.entries.get(fingerprint) === digest) return;
    this.entries.delete(fingerprint);
    this.entries.set(fingerprint, digest);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(oldest);
    }
    this.dirty = true;
  }

  /** Writes the memo if anything was remembered since it was loaded. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const lines = [MAGIC, ...[...this.entries].map(([f, d]) => `${f} ${d}`), ''];
    writeFileAtomicSync(this.file, Buffer.from(lines.join('\n'), 'latin1'));
    this.dirty = false;
  }
}
