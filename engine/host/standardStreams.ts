/**
 * Writing to kiln's standard output and error straight to descriptors 1 and 2, synchronously.
 * process.stdout and process.stderr load Node's stream machinery (and on a pipe its sockets)
 * the first time they are touched: about 5 ms of a short command such as `kiln stop` or `kiln
 * ps`, more than the rest of its output costs. Node writes them synchronously on Linux anyway,
 * so text written here and through them keeps its order. A slow reader holds kiln back; it
 * never fills kiln's memory.
 *
 * What a command writes here can be tapped: a build that may be replayed later keeps the exact
 * text it printed (see cli/replay/).
 */
import { writeSync } from 'node:fs';

/** Something that is told every write to descriptors 1 and 2, in order. */
export type StreamTap = (fd: 1 | 2, data: Buffer | string) => void;

let tap: StreamTap | undefined;

/** Tells `listener` (in place of any earlier one) every later write to standard output and error; the returned function stops it. */
export function tapStandardStreams(listener: StreamTap): () => void {
  tap = listener;
  return () => { if (tap === listener) tap = undefined; };
}

/** Writes all of `data` to descriptor `fd`, waiting while a non-blocking descriptor is full. */
export function writeAll(fd: number, data: Buffer | string): void {
  if (tap !== undefined && (fd === 1 || fd === 2)) tap(fd, data);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Standard output, as process.stdout.write without loading streams. */
export function writeStdout(data: Buffer | string): void {
  writeAll(1, data);
}

/** Standard error, as process.stderr.write without loading streams. */
export function writeStderr(data: Buffer | string): void {
  writeAll(2, data);
}

/** Standard error as a text sink (what a progress view writes to), without loading streams. */
export const standardErrorText = { write(text: string): boolean { writeStderr(text); return true; } };
