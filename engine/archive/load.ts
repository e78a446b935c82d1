/**
 * Loads image archives: what `docker save` writes (Docker 25+ OCI-plus-manifest.json layout and
 * the legacy v1.2 layout), and OCI image layouts (`oci-archive`). The archive may itself be
 * gzip/bzip2/xz/zstd-compressed, and so may its layers.
 *
 * Nothing reaches the store until everything is verified: every file of the archive is first
 * staged in a scratch dir with its sha256; then each config and blob is checked against the
 * digest that names it, each layer is decompressed, hashed and scanned (no `..`, no hard links
 * out) and its diff_id compared with the config; only then are layers, configs and tags committed.
 * A hostile or broken archive leaves the store as it was.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { KilnError } from '../errors/kilnError.js';
import { EXIT_CODES, isSystemRefusal, refusal } from '../errors/refusal.js';
import { configProblem, goArch, type ImageConfig } from '../image/config.js';
import { familiarReference, fullReference, parseReference } from '../image/reference.js';
import { decompress } from '../layer/compression.js';
import { entryComponents, hostile } from '../layer/entryPath.js';
import { feedTar } from '../layer/feedTar.js';
import { scanLayerTar } from '../layer/scan.js';
import type { ImageRecord, Store } from '../store/store.js';
import { fsyncFile } from '../store/atomicFile.js';
import {
  ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
} from '../image/mediaTypes.js';
import type { Descriptor, DockerManifestItem, OciIndex, OciManifest } from './archiveManifest.js';
import { nodeCrypto } from '../host/nodeCrypto.js';

interface StagedFile {
  path: string;
  digest: string;
  size: number;
}

interface Staging {
  files: Map<string, StagedFile>;
  links: Map<string, string>;
  dirs: Set<string>;
}

export interface LoadedImage {
  image: ImageRecord;
  /** Tags (full references) the archive gave this image. */
  tags: string[];
  /** Tags that pointed at another image before this load: tag → old image ID. */
  replaced: Map<string, string>;
}

interface PlannedLayer {
  staged: StagedFile;
  diffId: string;
  /** Where the uncompressed layer waits when the archive held it compressed. */
  uncompressed?: string;
}

interface PlannedImage {
  configBytes: Buffer;
  layers: PlannedLayer[];
  tags: string[];
}

const SMALL_LIMIT = 64 * 1024 * 1024;

/** Stages every entry of the (possibly compressed) outer archive, hashing each file. */
async function stage(input: AsyncIterable<Uint8Array>, dir: string, source: string): Promise<Staging> {
  const staging: Staging = { files: new Map(), links: new Map(), dirs: new Set(['']) };
  const { stream } = await decompress(input, { what: source });
  const extractor = tarExtract();
  const feeding = feedTar(stream, extractor);
  let n = 0;
  let inside: string | undefined;
  try {
    for await (const entry of extractor) {
      const h = entry.header;
      const name = entryComponents(source, h.name).join('/');
      inside = h.name;
      if (h.type === 'directory') {
        staging.dirs.add(name);
        entry.resume();
      } else if (h.type === 'symlink' || h.type === 'link') {
        entry.resume();
        const target = h.linkname ?? '';
        if (target.startsWith('/')) throw hostile(source, h.name, `link to the absolute path "${target}"`);
        // Symlinks resolve from their own dir, hard links from the archive root.
        const resolved = posix.normalize(h.type === 'symlink' ? posix.join(posix.dirname(name), target) : target);
        if (resolved === '..' || resolved.startsWith('../')) throw hostile(source, h.name, `link pointing outside the archive ("${target}")`);
        staging.links.set(name, resolved);
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        const path = join(dir, `f${n++}`);
        const hash = nodeCrypto().createHash('sha256');
        let size = 0;
        const fd = await open(path, 'wx', 0o600);
        try {
          for await (const chunk of entry) {
            const buf = chunk as Buffer;
            hash.update(buf);
            size += buf.length;
            let off = 0;
            while (off < buf.length) off += (await fd.write(buf, off, buf.length - off)).bytesWritten;
          }
        } finally {
          await fd.close();
        }
        staging.files.set(name, { path, digest: `sha256:${hash.digest('hex')}`, size });
      } else {
        entry.resume(); // devices and the like have no place in an image archive; ignored like docker does
      }
    }
  } catch (err) {
    // The staging writes are the store's: a refusal there is the disk's doing, not the archive's.
    if (err instanceof KilnError || isSystemRefusal(err)) throw err;
    // tar-stream ends early archives with "Unexpected end of data"; an entry being read then is destroyed.
    if (/^(Unexpected end of data|Stream was destroyed)$/.test((err as Error).message)) {
      const where = inside === undefined ? 'before its first entry' : `inside or after "${inside}"`;
      throw new KilnError('BAD_ARCHIVE', `${source}: the archive is truncated (it ends ${where})`, { location: { file: source }, cause: err });
    }
    throw new KilnError('BAD_ARCHIVE', `${source}: not a readable image archive (${(err as Error).message})`, { location: { file: source }, cause: err });
  } finally {
    await feeding;
  }
  return staging;
}

function lookup(staging: Staging, name: string, source: string): StagedFile {
  let current = posix.normalize(name).replace(/^\.\//, '');
  if (current === '..' || current.startsWith('../') || current.startsWith('/')) throw hostile(source, name, 'path outside the archive');
  for (let hops = 0; hops < 40; hops++) {
    const f = staging.files.get(current);
    if (f) return f;
    const next = staging.links.get(current);
    if (next === undefined) throw new KilnError('BAD_ARCHIVE', `${source}: the archive has no file "${name}"`, { location: { file: source } });
    current = next;
  }
  throw hostile(source, name, 'too many levels of links');
}

async function readSmall(f: StagedFile, what: string, source: string): Promise<Buffer> {
  if (f.size > SMALL_LIMIT) throw new KilnError('BAD_ARCHIVE', `${source}: ${what} is too large (${f.size} bytes)`, { location: { file: source } });
  return readFile(f.path);
}

function parseJson<T>(bytes: Buffer, what: string, source: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new KilnError('BAD_ARCHIVE', `${source}: ${what} is not valid JSON`, { location: { file: source } });
  }
}

function mismatch(source: string, what: string, expected: string, got: string): KilnError {
  return new KilnError('DIGEST_MISMATCH', `${source}: digest mismatch for ${what}: expected ${expected}, got ${got}`, { location: { file: source } });
}

/** A file named blobs/sha256/<hex> (or <hex>.json in the legacy layout) must hash to that name. */
function checkNamedDigest(path: string, f: StagedFile, source: string): void {
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path) ?? /^([0-9a-f]{64})\.json$/.exec(path);
  if (m && f.digest !== `sha256:${m[1]}`) throw mismatch(source, path, `sha256:${m[1]}`, f.digest);
}

function checkConfig(bytes: Buffer, source: string, what: string): ImageConfig {
  const cfg = parseJson<unknown>(bytes, what, source);
  const problem = configProblem(cfg);
  if (problem) throw new KilnError('BAD_CONFIG', `${source}: ${what}: ${problem}`, { location: { file: source } });
  const c = cfg as ImageConfig;
  if (c.os !== undefined && c.os !== '' && c.os !== 'linux') throw new KilnError('BAD_CONFIG', `${source}: image operating system "${c.os}" cannot be used on this platform`, { location: { file: source } });
  return c;
}

function tagsOf(repoTags: readonly string[] | null | undefined, source: string): string[] {
  const out: string[] = [];
  for (const t of repoTags ?? []) {
    let ref;
    try {
      ref = parseReference(t, { defaultTag: false });
    } catch {
      throw new KilnError('BAD_ARCHIVE', `${source}: invalid tag "${t}" in manifest.json`, { location: { file: source } });
    }
    if (ref.tag === undefined || ref.digest !== undefined) throw new KilnError('BAD_ARCHIVE', `${source}: invalid tag "${t}" in manifest.json (want name:tag)`, { location: { file: source } });
    out.push(fullReference(ref));
  }
  return out;
}

function planDocker(staging: Staging, manifest: DockerManifestItem[], source: string): Promise<PlannedImage[]> {
  if (!Array.isArray(manifest)) throw new KilnError('BAD_ARCHIVE', `${source}: manifest.json is not a list of images`, { location: { file: source } });
  return Promise.all(manifest.map(async (item, i) => {
    if (!item || typeof item.Config !== 'string' || !Array.isArray(item.Layers)) throw new KilnError('BAD_ARCHIVE', `${source}: manifest.json entry ${i} has no Config or Layers`, { location: { file: source } });
    const cfgFile = lookup(staging, item.Config, source);
    checkNamedDigest(posix.normalize(item.Config), cfgFile, source);
    const configBytes = await readSmall(cfgFile, item.Config, source);
    const cfg = checkConfig(configBytes, source, item.Config);
    if (item.Layers.length !== cfg.rootfs.diff_ids.length) throw new KilnError('BAD_ARCHIVE', `${source}: invalid manifest, layers length mismatch (${item.Layers.length} layers, ${cfg.rootfs.diff_ids.length} diff_ids)`, { location: { file: source } });
    const layers = item.Layers.map((p, j) => {
      const staged = lookup(staging, p, source);
      checkNamedDigest(posix.normalize(p), staged, source);
      return { staged, diffId: cfg.rootfs.diff_ids[j] as string };
    });
    return { configBytes, layers, tags: tagsOf(item.RepoTags, source) };
  }));
}

async function blobOf(staging: Staging, d: Descriptor, source: string): Promise<StagedFile> {
  if (!d || typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest)) throw new KilnError('BAD_ARCHIVE', `${source}: descriptor without a sha256 digest`, { location: { file: source } });
  const f = lookup(staging, `blobs/sha256/${d.digest.slice(7)}`, source);
  if (f.digest !== d.digest) throw mismatch(source, `blob ${d.digest}`, d.digest, f.digest);
  if (typeof d.size === 'number' && d.size !== f.size) throw new KilnError('DIGEST_MISMATCH', `${source}: blob ${d.digest} is ${f.size} bytes, the descriptor says ${d.size}`, { location: { file: source } });
  return f;
}

function nameFromAnnotations(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  for (const candidate of [a[ANNOTATION_CONTAINERD_NAME], a[ANNOTATION_REF_NAME]]) {
    if (!candidate) continue;
    try {
      const ref = parseReference(candidate, { defaultTag: false });
      // A bare tag ("latest") in ref.name names no repository: leave the image untagged.
      if (ref.tag !== undefined && ref.digest === undefined && (candidate.includes(':') || candidate.includes('/'))) return [fullReference(ref)];
    } catch {
      // not a reference: untagged
    }
  }
  return [];
}

async function planOci(staging: Staging, index: OciIndex, source: string): Promise<PlannedImage[]> {
  if (!index || !Array.isArray(index.manifests)) throw new KilnError('BAD_ARCHIVE', `${source}: index.json has no manifests`, { location: { file: source } });
  const out: PlannedImage[] = [];
  const visit = async (d: Descriptor, tags: string[], depth: number): Promise<void> => {
    if (depth > 4) throw new KilnError('BAD_ARCHIVE', `${source}: indexes nested too deep`, { location: { file: source } });
    const blob = await blobOf(staging, d, source);
    const body = parseJson<{ mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }>(await readSmall(blob, d.digest, source), `blob ${d.digest}`, source);
    const type = d.mediaType ?? body.mediaType;
    if (type === OCI_INDEX || type === DOCKER_MANIFEST_LIST || Array.isArray(body.manifests)) {
      const list = body.manifests ?? [];
      const here = list.filter((m) => m.platform?.os === 'linux' && m.platform?.architecture === goArch(process.arch));
      const pick = here[0] ?? list.find((m) => !m.platform) ?? list[0];
      if (!pick) throw new KilnError('BAD_ARCHIVE', `${source}: image index ${d.digest} lists no manifests`, { location: { file: source } });
      return visit(pick, tags, depth + 1);
    }
    if (type !== OCI_MANIFEST && type !== DOCKER_MANIFEST && !body.config) throw new KilnError('BAD_ARCHIVE', `${source}: blob ${d.digest} is not an image manifest`, { location: { file: source } });
    const m = body as unknown as OciManifest;
    const cfgFile = await blobOf(staging, m.config, source);
    const configBytes = await readSmall(cfgFile, m.config.digest, source);
    const cfg = checkConfig(configBytes, source, `config ${m.config.digest}`);
    const layerDescs = Array.isArray(m.layers) ? m.layers : [];
    if (layerDescs.length !== cfg.rootfs.diff_ids.length) throw new KilnError('BAD_ARCHIVE', `${source}: manifest ${d.digest} has ${layerDescs.length} layers but its config has ${cfg.rootfs.diff_ids.length} diff_ids`, { location: { file: source } });
    const layers: PlannedLayer[] = [];
    for (const [j, l] of layerDescs.entries()) layers.push({ staged: await blobOf(staging, l, source), diffId: cfg.rootfs.diff_ids[j] as string });
    out.push({ configBytes, layers, tags });
  };
  for (const d of index.manifests) await visit(d, nameFromAnnotations(d), 0);
  return out;
}

/** Decompresses, hashes and scans one layer; the uncompressed tar is left ready to adopt. */
async function verifyLayer(layer: PlannedLayer, dir: string, source: string, what: string): Promise<void> {
  const hash = nodeCrypto().createHash('sha256');
  const { compression, stream } = await decompress(createReadStream(layer.staged.path), { what: `${source}: ${what}` });
  let out: import('node:fs/promises').FileHandle | undefined;
  if (compression !== 'none') {
    layer.uncompressed = join(dir, `u${layer.staged.path.split('/').pop()}`);
    out = await open(layer.uncompressed, 'wx', 0o600);
  }
  const tap = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      hash.update(buf);
      if (out) {
        let off = 0;
        while (off < buf.length) off += (await out.write(buf, off, buf.length - off)).bytesWritten;
      }
      yield buf;
    }
  };
  try {
    await scanLayerTar(tap(), `${source}: ${what}`);
    if (out) await out.sync();
  } finally {
    await out?.close();
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== layer.diffId) throw new KilnError('DIGEST_MISMATCH', `${source}: invalid diffID for ${what}: expected ${layer.diffId}, got ${got}`, { location: { file: source } });
}

export interface LoadOptions {
  /** Names the archive in messages (a path, or "standard input"). */
  source: string;
}

/** Loads every image of the archive; nothing is written to the store unless all of it verifies. */
export async function loadArchive(store: Store, input: AsyncIterable<Uint8Array> | string, opts?: LoadOptions): Promise<LoadedImage[]> {
  const source = opts?.source ?? (typeof input === 'string' ? input : 'archive');
  let archiveBytes: number | undefined;
  if (typeof input === 'string') {
    await open(input, 'r').then(async (fd) => {
      archiveBytes = (await fd.stat()).size;
      await fd.close();
    }, (err: NodeJS.ErrnoException) => {
      throw refusal(err, { place: { kind: 'input', path: input } });
    });
  }
  const stream = typeof input === 'string' ? createReadStream(input) : input;
  const store_ = { kind: 'store' as const, root: store.root };
  let dir: string;
  try {
    dir = await store.scratchDir('load');
  } catch (err) {
    throw refusal(err, { place: store_, what: `the images of ${source}` });
  }
  try {
    return await loadStaged(store, stream, dir, source);
  } catch (err) {
    // Unpacked, the archive needs about its own size again in the store.
    if (isSystemRefusal(err)) throw refusal(err, { place: store_, what: `the images of ${source}`, ...(archiveBytes !== undefined ? { neededBytes: archiveBytes } : {}) });
    if (err instanceof KilnError && ARCHIVE_FAULTS.has(err.code)) {
      throw new KilnError(err.code, err.message, { ...(err.location ? { location: err.location } : {}), exitCode: EXIT_CODES.badArchive, cause: err.cause });
    }
    throw err;
  } finally {
    await store.removeScratchDir(dir);
  }
}

/** What is wrong with an archive itself (exit code 65, a bad archive). */
const ARCHIVE_FAULTS = new Set(['BAD_ARCHIVE', 'BAD_LAYER', 'BAD_CONFIG', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'HOSTILE_ARCHIVE', 'DECOMPRESS']);

async function loadStaged(store: Store, stream: AsyncIterable<Uint8Array>, dir: string, source: string): Promise<LoadedImage[]> {
  const staging = await stage(stream, dir, source);
  let planned: PlannedImage[];
  const manifestFile = staging.files.get('manifest.json');
  if (manifestFile) {
    planned = await planDocker(staging, parseJson<DockerManifestItem[]>(await readSmall(manifestFile, 'manifest.json', source), 'manifest.json', source), source);
  } else if (staging.files.has('index.json') && staging.files.has('oci-layout')) {
    const layout = parseJson<{ imageLayoutVersion?: string }>(await readSmall(lookup(staging, 'oci-layout', source), 'oci-layout', source), 'oci-layout', source);
    if (layout.imageLayoutVersion !== '1.0.0') throw new KilnError('BAD_ARCHIVE', `${source}: unsupported OCI layout version ${JSON.stringify(layout.imageLayoutVersion)}`, { location: { file: source } });
    planned = await planOci(staging, parseJson<OciIndex>(await readSmall(lookup(staging, 'index.json', source), 'index.json', source), 'index.json', source), source);
  } else {
    throw new KilnError('BAD_ARCHIVE', `${source}: invalid archive: does not contain a manifest.json or an OCI image layout`, { location: { file: source } });
  }
  // Held before the store is asked what it has: a prune meanwhile leaves those layers.
  await store.hold(planned.flatMap((img) => img.layers.map((l) => l.diffId)));
  // Verify every layer once (the same file may serve several images).
  const verified = new Map<string, PlannedLayer>();
  for (const img of planned) {
    for (const [i, layer] of img.layers.entries()) {
      const key = `${layer.staged.path} ${layer.diffId}`;
      const done = verified.get(key);
      if (done) { layer.uncompressed = done.uncompressed; continue; }
      if (await store.hasBlob(layer.diffId) && layer.staged.digest === layer.diffId) {
        verified.set(key, layer); // the store already holds exactly these bytes, verified when they came in
        continue;
      }
      await verifyLayer(layer, dir, source, `layer ${i + 1} (${layer.diffId})`);
      verified.set(key, layer);
    }
  }
  // Commit: layers, then configs, then tags.
  const adopted = new Set<string>();
  for (const layer of verified.values()) {
    if (adopted.has(layer.diffId) || (await store.hasBlob(layer.diffId))) continue;
    const file = layer.uncompressed ?? layer.staged.path;
    // Flushed before it is renamed into the blob store (as every blob is): a crash must not leave a blob named by a digest its bytes never reached the disk for.
    await fsyncFile(file);
    await store.blobs.adopt(file, layer.diffId);
    adopted.add(layer.diffId);
  }
  const loaded: LoadedImage[] = [];
  for (const img of planned) {
    const image = await store.commitImageBytes(img.configBytes, { source });
    const replaced = new Map<string, string>();
    for (const t of img.tags) {
      const previous = await store.tag(image.id, t); // a full reference already (tagsOf, nameFromAnnotations)
      if (previous) replaced.set(t, previous);
    }
    loaded.push({ image: (await store.getImage(image.id)) ?? image, tags: img.tags, replaced });
  }
  return loaded;
}

/** Lines `docker load` prints for what was loaded. */
export function describeLoaded(loaded: readonly LoadedImage[]): string[] {
  const lines: string[] = [];
  for (const l of loaded) {
    for (const [t, old] of l.replaced) lines.push(`The image ${familiarReference(parseReference(t))} already exists, renaming the old one with ID ${old} to empty string`);
    if (l.tags.length === 0) lines.push(`Loaded image ID: ${l.image.id}`);
    for (const t of l.tags) lines.push(`Loaded image: ${familiarReference(parseReference(t))}`);
  }
  return lines;
}
