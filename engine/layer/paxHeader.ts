/**
 * A PAX extended header ('x' record) written by hand, for the one case tar-stream cannot carry:
 * record values that are bytes rather than UTF-8 text (an xattr such as security.capability).
 * Records are `LEN key=value\n` with LEN counting the whole record in bytes, keys sorted as Go
 * sorts them.
 */
const BLOCK = 512;

function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A name that fits a USTAR name field as is: ASCII, at most 100 bytes. */
export function ustarSafeName(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= 100 ? ascii : ascii.slice(ascii.length - 100);
}

/** The 'x' header block, its records and padding, ready to precede the entry it describes. */
export function paxHeaderBlocks(entryName: string, mtimeSecs: number, records: Record<string, string | Buffer>): Buffer {
  const body = Buffer.concat(Object.keys(records).sort().map((k) => {
    const v = records[k] as string | Buffer;
    return record(k, typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
  }));
  const header = Buffer.alloc(BLOCK);
  const base = entryName.replace(/\/$/, '').split('/').pop() ?? '';
  header.write(ustarSafeName(`PaxHeaders.0/${base}`), 0, 'ascii');
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(body.length, 12), 124, 'ascii');
  header.write(octal(Math.max(0, mtimeSecs), 12), 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('x', 156, 'ascii');
  header.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const padding = Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, body, padding]);
}
