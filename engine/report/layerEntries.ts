/**
 * The headers of a layer tar, one after another, without its contents: the file is read in
 * windows of 1 MiB and whatever lies past a window — a large file's bytes — is skipped, never
 * read, so a layer of any size passes in bounded memory and a layer of small files costs one
 * read per MiB. Understands USTAR (prefix + name), PAX extended headers (path, linkpath, size,
 * uid, gid) and GNU long names; global PAX headers carry nothing a report needs.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { KilnError } from '../errors/kilnError.js';

export interface TarEntryHeader {
  /** Cleaned, relative, no trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
}

const BLOCK = 512;
const WINDOW = 1 << 20;

/** `./a//b/` → `a/b`; `.` and `/` → ''. */
export function cleanPath(name: string): string {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/');
}

/** Reads ranges of a file through one window, so neighbouring headers cost no extra read. */
class WindowedFile {
  private window = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly fd: FileHandle) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < this.start || offset + length > this.start + this.window.length) {
      const buf = Buffer.alloc(Math.max(WINDOW, length));
      const { bytesRead } = await this.fd.read(buf, 0, buf.length, offset);
      this.window = buf.subarray(0, bytesRead);
      this.start = offset;
    }
    return this.window.subarray(offset - this.start, offset - this.start + length);
  }
}

function text(b: Buffer, from: number, length: number): string {
  const field = b.subarray(from, from + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** An octal field, or base-256 when its first byte has the high bit (GNU, for large sizes and ids). */
function number(b: Buffer, from: number, length: number): number {
  if ((b[from] as number) & 0x80) {
    let n = (b[from] as number) & 0x7f;
    for (let i = from + 1; i < from + length; i++) n = n * 256 + (b[i] as number);
    return n;
  }
  const s = text(b, from, length).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i] as number;
  return sum === number(b, 148, 8);
}

/** PAX records: "LEN key=value\n", LEN counting the whole record. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const len = Number(data.subarray(at, space).toString('ascii'));
    if (space < 0 || !Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return records;
}

const TYPES: Record<string, TarEntryHeader['type']> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '5': 'directory' };

export async function* layerEntries(blobPath: string, source: string): AsyncGenerator<TarEntryHeader> {
  const bad = (why: string): KilnError => new KilnError('BAD_LAYER', `${source}: not a valid tar (${why})`);
  const fd = await open(blobPath, 'r');
  try {
    const file = new WindowedFile(fd);
    const total = (await fd.stat()).size;
    let offset = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    while (offset + BLOCK <= total) {
      const h = await file.read(offset, BLOCK);
      if (h[0] === 0 && h.every((x) => x === 0)) return;
      if (!checksumOk(h)) throw bad(`bad header checksum at byte ${offset}`);
      const flag = String.fromCharCode(h[156] as number);
      const size = number(h, 124, 12);
      const dataAt = offset + BLOCK;
      offset = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'L' || flag === 'K') {
        if (size > WINDOW) throw bad(`a ${size}-byte extended header`);
        const data = await file.read(dataAt, size);
        if (flag === 'x') pax = paxRecords(data);
        else if (flag === 'L') longName = text(data, 0, data.length);
        else longLink = text(data, 0, data.length);
        continue;
      }
      if (flag === 'g') continue;
      const ustar = text(h, 257, 6) === 'ustar';
      const prefix = ustar ? text(h, 345, 155) : '';
      const name = pax.get('path') ?? longName ?? (prefix === '' ? text(h, 0, 100) : `${prefix}/${text(h, 0, 100)}`);
      const linkname = pax.get('linkpath') ?? longLink ?? text(h, 157, 100);
      const paxSize = pax.get('size');
      if (paxSize !== undefined) offset = dataAt + Math.ceil(Number(paxSize) / BLOCK) * BLOCK;
      const type = TYPES[flag] ?? 'other';
      yield {
        path: cleanPath(name),
        type,
        size: paxSize !== undefined ? Number(paxSize) : size,
        mode: number(h, 100, 8),
        uid: pax.has('uid') ? Number(pax.get('uid')) : number(h, 108, 8),
        gid: pax.has('gid') ? Number(pax.get('gid')) : number(h, 116, 8),
        ...(linkname !== '' && (type === 'link' || type === 'symlink') ? { linkname } : {}),
      };
      pax = new Map();
      longName = undefined;
      longLink = undefined;
    }
    if (offset < total && offset + BLOCK > total) throw bad('it ends inside a header');
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('BAD_LAYER', `${source}: cannot read the layer (${(e as Error).message})`, { cause: e });
  } finally {
    await fd.close();
  }
}
