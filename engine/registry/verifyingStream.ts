/**
 * A pass-through stream that hashes what flows through it and, at the end, refuses the data
 * (errors instead of ending) unless its sha256 and length are the expected ones. Placed before
 * a consumer, a tampered or truncated blob never looks complete to it.
 */
import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { KilnError } from '../errors/kilnError.js';
import { nodeCrypto } from '../host/nodeCrypto.js';

export interface Expectation {
  digest: string;
  /** Bytes expected; undefined when only the digest is known (uncompressed layers). */
  size?: number;
  /** Names the content in the error: "layer sha256:ab12… of busybox:latest". */
  what: string;
  subject: string;
  /** Called with the running byte count as data passes (progress). */
  onBytes?: (total: number) => void;
}

export function digestMismatch(exp: Expectation, actual: string, detail = ''): KilnError {
  return new KilnError('DIGEST_MISMATCH', `digest mismatch for ${exp.what}: expected ${exp.digest}, got ${actual}${detail}; the registry sent different content than it announced (refused, nothing stored)`);
}

export class VerifyingStream extends Transform {
  private readonly hash: Hash = nodeCrypto().createHash('sha256');
  private count = 0;

  constructor(private readonly exp: Expectation) {
    super();
    if (!exp.digest.startsWith('sha256:')) throw new KilnError('UNSUPPORTED_DIGEST', `${exp.what} uses digest algorithm ${exp.digest.split(':')[0]}; kiln verifies sha256 only`);
  }

  get bytes(): number {
    return this.count;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.exp.size !== undefined && this.count > this.exp.size) {
      cb(digestMismatch(this.exp, 'more data', ` (over ${this.exp.size} bytes)`));
      return;
    }
    this.hash.update(chunk);
    this.exp.onBytes?.(this.count);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (this.exp.size !== undefined && this.count !== this.exp.size) {
      cb(digestMismatch(this.exp, actual, ` (${this.count} bytes instead of ${this.exp.size})`));
      return;
    }
    if (actual !== this.exp.digest) {
      cb(digestMismatch(this.exp, actual));
      return;
    }
    cb();
  }
}
