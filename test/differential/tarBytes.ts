/**
 * Small tar archives for recipes (ADD unpacks them), written by hand so their bytes never change:
 * ustar headers for files, directories, symlinks and hardlinks with the mode and owner given,
 * and a PAX header when an entry has xattrs.
 */
export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  content?: string;
  /** Symlink or hardlink target. */
  link?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  xattrs?: Record<string, string>;
}

const MTIME = 1_704_164_645; // 2024-01-02T03:04:05Z

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, typeflag: string, size: number, e: { mode: number; uid: number; gid: number; link?: string }): Buffer {
  const h = Buffer.alloc(512);
  let prefix = '';
  let short = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    prefix = name.slice(0, cut);
    short = name.slice(cut + 1);
  }
  h.write(short, 0, 100, 'utf8');
  h.write(octal(e.mode, 8), 100);
  h.write(octal(e.uid, 8), 108);
  h.write(octal(e.gid, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(MTIME, 12), 136);
  h.write('        ', 148);
  h.write(typeflag, 156);
  if (e.link !== undefined) h.write(e.link, 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function padded(body: Buffer): Buffer[] {
  const pad = (512 - (body.length % 512)) % 512;
  return [body, Buffer.alloc(pad)];
}

function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
  return `${len}${rest}`;
}

export function tarBytes(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'dir' : 'file');
    const attrs = { mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, ...(e.link !== undefined ? { link: e.link } : {}) };
    if (e.xattrs) {
      const pax = Buffer.from(Object.entries(e.xattrs).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, v)).join(''));
      parts.push(header(`PaxHeaders/${e.name.replace(/\/$/, '')}`.slice(0, 99), 'x', pax.length, { mode: 0o644, uid: 0, gid: 0 }), ...padded(pax));
    }
    const body = Buffer.from(type === 'file' ? e.content ?? '' : '');
    const flag = { file: '0', hardlink: '1', symlink: '2', dir: '5' }[type];
    parts.push(header(e.name, flag, body.length, attrs), ...padded(body));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
