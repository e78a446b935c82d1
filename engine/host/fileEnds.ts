/**
 * The first or last bytes of a file, read without reading the rest: a bundle's stamp at its end,
 * a record's digest on its first line. Undefined when the file cannot be opened.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

function readEnd(file: string, bytes: number, end: 'head' | 'tail'): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = end === 'tail' ? fstatSync(fd).size : undefined;
    const buf = Buffer.alloc(size === undefined ? bytes : Math.min(bytes, size));
    const got = readSync(fd, buf, 0, buf.length, size === undefined ? 0 : size - buf.length);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Up to `bytes` from the start of `file`. */
export function fileHead(file: string, bytes: number): Buffer | undefined {
  return readEnd(file, bytes, 'head');
}

/** Up to `bytes` from the end of `file`. */
export function fileTail(file: string, bytes: number): Buffer | undefined {
  return readEnd(file, bytes, 'tail');
}
