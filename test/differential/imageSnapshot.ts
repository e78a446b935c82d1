/**
 * What the differential suite compares of an image: the config fields a user sees, the history
 * (created_by, empty_layer), and the root filesystem flattened from the layers (whiteouts
 * applied) as one record per path — type, mode, owner, size, content hash, link target,
 * hardlink group, xattrs; never mtimes. Read from a docker-save archive (what `docker save`,
 * `kiln build -o type=docker` and BuildKit's docker exporter write) with its own tar reading,
 * so kiln's output is not judged by kiln's code.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

export interface FileRecord {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block';
  /** Permission and special bits, four octal digits. */
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  /** For a file with more than one name: the first of its names, sorted. */
  hardlinks?: string;
  device?: string;
  xattrs?: Record<string, string>;
}

export interface HistoryRecord { created_by: string; empty_layer: boolean }

export const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'] as const;

export interface Snapshot {
  config: Partial<Record<(typeof CONFIG_FIELDS)[number], unknown>>;
  history: HistoryRecord[];
  files: Record<string, FileRecord>;
}

/** One layer's entries as read, before flattening. */
interface LayerEntry { path: string; record: FileRecord | undefined; hardlinkTo?: string; whiteout?: 'file' | 'opaque' }

function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function cleanPath(name: string): string {
  const p = posix.normalize('/' + name).replace(/\/+$/, '');
  return p === '' ? '/' : p;
}

function xattrsOf(pax: Record<string, string> | null | undefined): Record<string, string> | undefined {
  if (!pax) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith('SCHILY.xattr.')) out[k.slice('SCHILY.xattr.'.length)] = Buffer.from(v, 'binary').toString('base64');
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

async function drain(stream: Readable, hash?: ReturnType<typeof createHash>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) { n += (chunk as Buffer).length; hash?.update(chunk as Buffer); }
  return n;
}

/** The stream, gunzipped when it starts with gzip's magic bytes (BuildKit's exporter compresses layers). */
function maybeGunzip(stream: Readable): Readable {
  return Readable.from((async function* () {
    const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first = await it.next();
    if (first.done) return;
    const head = first.value;
    const all = (async function* () { yield head; for (let n = await it.next(); !n.done; n = await it.next()) yield n.value; })();
    if (head[0] === 0x1f && head[1] === 0x8b) yield* Readable.from(all).pipe(createGunzip());
    else yield* all;
  })(), { objectMode: false });
}

async function readLayer(stream: Readable): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, source, next) => {
      const body = source as unknown as Readable;
      void (async () => {
        const path = cleanPath(header.name);
        const base = posix.basename(path);
        const dir = posix.dirname(path);
        if (base === '.wh..wh..opq') { entries.push({ path: dir, record: undefined, whiteout: 'opaque' }); await drain(body); return; }
        if (base.startsWith('.wh.')) { entries.push({ path: posix.join(dir, base.slice(4)), record: undefined, whiteout: 'file' }); await drain(body); return; }
        const common = { mode: modeString(header.mode ?? 0), uid: header.uid ?? 0, gid: header.gid ?? 0 };
        const xattrs = xattrsOf(header.pax as Record<string, string> | undefined);
        const withX = (r: FileRecord): FileRecord => (xattrs ? { ...r, xattrs } : r);
        switch (header.type) {
          case 'file':
          case 'contiguous-file': {
            const hash = createHash('sha256');
            const size = await drain(body, hash);
            entries.push({ path, record: withX({ type: 'file', ...common, size, sha256: hash.digest('hex') }) });
            return;
          }
          case 'directory':
            entries.push({ path, record: withX({ type: 'dir', ...common }) });
            break;
          case 'symlink':
            entries.push({ path, record: withX({ type: 'symlink', ...common, link: header.linkname ?? '' }) });
            break;
          case 'link':
            entries.push({ path, record: undefined, hardlinkTo: cleanPath(header.linkname ?? '') });
            break;
          case 'fifo':
            entries.push({ path, record: withX({ type: 'fifo', ...common }) });
            break;
          case 'character-device':
          case 'block-device':
            entries.push({ path, record: withX({ type: header.type === 'block-device' ? 'block' : 'char', ...common, device: `${header.devmajor ?? 0},${header.devminor ?? 0}` }) });
            break;
          default:
            break;
        }
        await drain(body);
      })().then(() => next(), (e: unknown) => reject(e));
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  await Promise.all([pipeline(maybeGunzip(stream), extract), done]);
  return entries;
}

/** The mutable flattened tree: path → record, plus an inode number per file for hardlinks. */
class Flattened {
  readonly records = new Map<string, FileRecord>();
  readonly inode = new Map<string, number>();
  private nextInode = 1;

  private removeTree(path: string, keepSelf: boolean): void {
    const prefix = path === '/' ? '/' : path + '/';
    for (const p of [...this.records.keys()]) {
      if ((p === path && !keepSelf) || p.startsWith(prefix)) { this.records.delete(p); this.inode.delete(p); }
    }
  }

  private ensureParents(path: string): void {
    const dir = posix.dirname(path);
    if (dir === '/' || this.records.get(dir)?.type === 'dir') return;
    this.ensureParents(dir);
    this.removeTree(dir, false);
    this.records.set(dir, { type: 'dir', mode: '0755', uid: 0, gid: 0 });
  }

  apply(layer: LayerEntry[]): void {
    // Whiteouts hide what the layers below hold, whatever their place in this layer's tar.
    for (const e of layer) {
      if (e.whiteout === 'file') this.removeTree(e.path, false);
      else if (e.whiteout === 'opaque') this.removeTree(e.path, true);
    }
    for (const e of layer) {
      if (e.whiteout !== undefined || e.path === '/') continue;
      this.ensureParents(e.path);
      if (e.hardlinkTo !== undefined) {
        const target = this.records.get(e.hardlinkTo);
        if (!target) continue;
        this.removeTree(e.path, false);
        this.records.set(e.path, target);
        this.inode.set(e.path, this.inode.get(e.hardlinkTo) ?? this.nextInode++);
        continue;
      }
      const record = e.record as FileRecord;
      const existing = this.records.get(e.path);
      // A directory over a directory changes its attributes and keeps its contents.
      if (!(existing?.type === 'dir' && record.type === 'dir')) this.removeTree(e.path, false);
      this.records.set(e.path, record);
      if (record.type === 'file') this.inode.set(e.path, this.nextInode++);
      else this.inode.delete(e.path);
    }
  }

  /** Records with hardlink groups named, sorted by path. */
  result(): Record<string, FileRecord> {
    const groups = new Map<number, string[]>();
    for (const [p, ino] of this.inode) {
      if (!this.records.has(p)) continue;
      const g = groups.get(ino) ?? [];
      g.push(p);
      groups.set(ino, g);
    }
    const out: Record<string, FileRecord> = {};
    for (const p of [...this.records.keys()].sort()) {
      const r = { ...(this.records.get(p) as FileRecord) };
      const g = groups.get(this.inode.get(p) ?? -1);
      if (g && g.length > 1) r.hardlinks = [...g].sort()[0] as string;
      out[p] = r;
    }
    return out;
  }
}

/** The compared config fields, with absent, null, empty-string and empty-object values left out. */
export function configFields(c: Record<string, unknown>): Snapshot['config'] {
  const config: Snapshot['config'] = {};
  for (const f of CONFIG_FIELDS) {
    const v = c[f];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    config[f] = v;
  }
  return config;
}

interface ArchiveManifest { Config: string; Layers: string[] | null }

/** Reads an archive twice: small JSON files and links first, then each layer it names. */
export async function snapshotArchive(archivePath: string): Promise<Snapshot> {
  const small = new Map<string, Buffer>();
  const links = new Map<string, string>();
  await forEachEntry(archivePath, async (name, header, body) => {
    if (header.type === 'symlink' || header.type === 'link') links.set(name, posix.normalize(header.type === 'symlink' ? posix.join(posix.dirname(name), header.linkname ?? '') : header.linkname ?? ''));
    if (name.endsWith('.json') || name === 'manifest.json' || (header.size ?? 0) < 1 << 20 && /^blobs\/sha256\/[0-9a-f]{64}$/.test(name)) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      small.set(name, Buffer.concat(chunks));
    } else await drain(body);
  });
  const manifestBytes = small.get('manifest.json');
  if (!manifestBytes) throw new Error(`${archivePath}: no manifest.json`);
  const manifest = (JSON.parse(manifestBytes.toString('utf8')) as ArchiveManifest[])[0];
  if (!manifest) throw new Error(`${archivePath}: empty manifest.json`);
  const resolveName = (n: string): string => { let cur = n; for (let i = 0; i < 8 && links.has(cur); i++) cur = links.get(cur) as string; return cur; };
  const configBytes = small.get(resolveName(manifest.Config));
  if (!configBytes) throw new Error(`${archivePath}: config ${manifest.Config} missing`);
  const image = JSON.parse(configBytes.toString('utf8')) as { config?: Record<string, unknown>; history?: { created_by?: string; empty_layer?: boolean }[] };

  const wanted = (manifest.Layers ?? []).map(resolveName);
  const layers = new Map<string, LayerEntry[]>();
  await forEachEntry(archivePath, async (name, _header, body) => {
    if (wanted.includes(name) && !layers.has(name)) layers.set(name, await readLayer(body));
    else await drain(body);
  });
  const flat = new Flattened();
  for (const name of wanted) {
    const entries = layers.get(name);
    if (!entries) throw new Error(`${archivePath}: layer ${name} missing`);
    flat.apply(entries);
  }
  const config = configFields(image.config ?? {});
  const history = (image.history ?? []).map((h) => ({ created_by: h.created_by ?? '', empty_layer: h.empty_layer === true }));
  return { config, history, files: flat.result() };
}

async function forEachEntry(archivePath: string, fn: (name: string, header: tar.Header, body: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      fn(posix.normalize(header.name).replace(/^\.\//, '').replace(/\/$/, ''), header, body as unknown as Readable).then(() => next(), reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  await Promise.all([pipeline(createReadStream(archivePath), extract), done]);
}

/**
 * The part of a snapshot a recipe is judged on: for an image built on the base (its history
 * starts with the base's), the files that differ from the base's — the same busybox in every
 * builder — the base paths that are gone, and the history after the base's; for any other
 * image, all of it.
 */
export function againstBase(snap: Snapshot, base: Snapshot): Snapshot & { removed: string[] } {
  const onBase = base.history.every((h, i) => JSON.stringify(snap.history[i]) === JSON.stringify(h));
  if (!onBase) return { ...snap, removed: [] };
  const files: Record<string, FileRecord> = {};
  for (const [p, r] of Object.entries(snap.files)) {
    const b = base.files[p];
    if (b === undefined || JSON.stringify(b) !== JSON.stringify(r)) files[p] = r;
  }
  const removed = Object.keys(base.files).filter((p) => snap.files[p] === undefined).sort();
  return { ...snap, history: snap.history.slice(base.history.length), files, removed };
}
