/**
 * Tar header blocks for the layer writer, encoded byte for byte as tar-stream's packer encodes
 * them (USTAR, a name over 100 bytes split into prefix/name at a slash, a PAX 'x' header named
 * PaxHeader when a name or link is not ASCII or too long or PAX records are given), so layers
 * keep the diff_ids they had when tar-stream wrote them. Writing the blocks directly spares a
 * stream object per entry, which dominated the cost of a layer of many small files.
 * test/unit/engine/layer/tarHeader.test.ts checks the bytes against tar-stream's.
 */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarHeader {
  name: string;
  /** Only the permission bits (07777) are written. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  type: TarEntryType;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Text PAX records, written in this order. */
  pax?: Record<string, string> | null;
}

const BLOCK = 512;
const ZEROS = Buffer.alloc(1024);
const TYPEFLAG: Record<TarEntryType | 'pax-header', number> = {
  file: 0, link: 1, symlink: 2, 'character-device': 3, 'block-device': 4, directory: 5, fifo: 6, 'pax-header': 72,
};

/** Octal digits, zero-padded to `n`, then a space; all sevens when the value does not fit. */
function octal(value: number, n: number): string {
  const digits = value.toString(8);
  if (digits.length > n) return `${'7'.repeat(n)} `;
  return `${'0'.repeat(n - digits.length)}${digits} `;
}

/** Writes `octal(value, n)` at `off` (ASCII): digit by digit for a whole number that fits, the common case. */
function putOctal(buf: Buffer, off: number, value: number, n: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= 8 ** n) {
    buf.write(octal(value, n), off, 'latin1');
    return;
  }
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    buf[off + i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  buf[off + n] = 0x20;
}

function writeSize(size: number, buf: Buffer, off: number): void {
  if (size.toString(8).length > 11) {
    // Base-256 for sizes octal cannot hold.
    buf[off] = 0x80;
    let num = size;
    for (let i = 11; i > 0; i--) {
      buf[off + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else putOctal(buf, off, size, 11);
}

/** A name (and link) as a USTAR block holds them: the name split into prefix and name, or undefined when it needs PAX (non-ASCII or too long). */
function ustarNames(entryName: string, linkname: string): { name: string; prefix: string } | undefined {
  let name = entryName;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return undefined;
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || Buffer.byteLength(prefix) > 155) return undefined;
  if (linkname && Buffer.byteLength(linkname) > 100) return undefined;
  return { name, prefix };
}

/** Fills the USTAR block at `off` for `h` under the names given. */
function fillUstar(buf: Buffer, off: number, h: TarHeader, typeflag: number, size: number, names: { name: string; prefix: string }, linkname: string): void {
  buf.fill(0, off, off + BLOCK);
  buf.write(names.name, off, 'latin1');
  putOctal(buf, off + 100, h.mode & 0o7777, 6);
  putOctal(buf, off + 108, h.uid, 6);
  putOctal(buf, off + 116, h.gid, 6);
  writeSize(size, buf, off + 124);
  putOctal(buf, off + 136, (h.mtime.getTime() / 1000) | 0, 11);
  buf[off + 156] = 0x30 + typeflag;
  if (linkname) buf.write(linkname, off + 157, 'utf8');
  buf.write('ustar\u000000', off + 257, 'latin1');
  putOctal(buf, off + 329, h.devmajor, 6);
  putOctal(buf, off + 337, h.devminor, 6);
  if (names.prefix) buf.write(names.prefix, off + 345, 'utf8');
  let sum = 8 * 32;
  for (let i = off; i < off + 148; i++) sum += buf[i] as number;
  for (let i = off + 156; i < off + BLOCK; i++) sum += buf[i] as number;
  putOctal(buf, off + 148, sum, 6);
}

/** One USTAR block for `h` under `name`/`linkname`, or null when it needs PAX (non-ASCII or over-long name or link). */
function ustarBlock(h: TarHeader, typeflag: number, size: number, entryName: string, linkname: string): Buffer | null {
  const names = ustarNames(entryName, linkname);
  if (!names) return null;
  // From the shared pool (a plain alloc per header is a separate allocation); fillUstar zeroes it.
  const buf = Buffer.allocUnsafe(BLOCK);
  fillUstar(buf, 0, h, typeflag, size, names, linkname);
  return buf;
}

/**
 * Writes `h`'s header as the single USTAR block it is when it needs no PAX header, straight into
 * `buf` at `off` (the layer writer's output, sparing a block and a copy per entry): the same
 * bytes as headerBlocks(h). False, with nothing written, when it needs PAX: use headerBlocks.
 */
export function writeUstarHeader(buf: Buffer, off: number, h: TarHeader): boolean {
  if (h.pax) return false;
  const names = ustarNames(h.name, h.linkname);
  if (!names) return false;
  fillUstar(buf, off, h, TYPEFLAG[h.type], h.size, names, h.linkname);
  return true;
}

/** Whether writeUstarHeader writes `h` (one 512-byte block, no PAX). */
export function fitsUstar(h: TarHeader): boolean {
  return !h.pax && ustarNames(h.name, h.linkname) !== undefined;
}

/** A PAX record, `LEN key=value\n`, LEN counting the whole record. */
function paxRecord(text: string): string {
  const len = Buffer.byteLength(text);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${text}`;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): Buffer {
  const rest = size & 511;
  return rest === 0 ? ZEROS.subarray(0, 0) : ZEROS.subarray(0, BLOCK - rest);
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = ZEROS;

/** The blocks that introduce an entry: its USTAR header, preceded by a PAX header when it needs one. */
export function headerBlocks(h: TarHeader): Buffer[] {
  const typeflag = TYPEFLAG[h.type];
  if (!h.pax) {
    const block = ustarBlock(h, typeflag, h.size, h.name, h.linkname);
    if (block) return [block];
  }
  let records = '';
  if (h.name) records += paxRecord(` path=${h.name}\n`);
  if (h.linkname) records += paxRecord(` linkpath=${h.linkname}\n`);
  for (const [key, value] of Object.entries(h.pax ?? {})) records += paxRecord(` ${key}=${value}\n`);
  const body = Buffer.from(records, 'utf8');
  const link = h.linkname ? 'PaxHeader' : '';
  return [
    ustarBlock(h, TYPEFLAG['pax-header'], body.length, 'PaxHeader', link) as Buffer,
    body,
    padding(body.length),
    ustarBlock(h, typeflag, h.size, 'PaxHeader', link) as Buffer,
  ];
}
