/**
 * What kiln knows about the compressed forms of a layer it stores uncompressed: for a diff_id,
 * the compressed blobs (digest, size, media type) seen in registries and which repositories
 * hold them. Push uses it to HEAD a blob without recompressing and to mount it from a repository
 * of the same registry instead of uploading. Kept under the store root at
 * `registry/layers/<diff hex>.json`; written atomically; losing it costs only speed.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomicFile.js';

export interface BlobSource {
  /** Registry host as in references (`127.0.0.1:5000`, `docker.io`). */
  registry: string;
  repository: string;
}

export interface CompressedVariant {
  digest: string;
  size: number;
  mediaType: string;
  sources: BlobSource[];
}

const MAX_SOURCES = 16;

export class BlobSources {
  private readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'registry', 'layers');
  }

  private file(diffId: string): string {
    return join(this.dir, `${diffId.replace(/^sha256:/, '')}.json`);
  }

  async lookup(diffId: string): Promise<CompressedVariant[]> {
    try {
      const parsed = JSON.parse(await readFile(this.file(diffId), 'utf8')) as { variants?: CompressedVariant[] };
      return Array.isArray(parsed.variants) ? parsed.variants : [];
    } catch {
      return [];
    }
  }

  async record(diffId: string, variant: Omit<CompressedVariant, 'sources'>, source: BlobSource | undefined): Promise<void> {
    const variants = await this.lookup(diffId);
    let v = variants.find((x) => x.digest === variant.digest);
    if (!v) {
      v = { ...variant, sources: [] };
      variants.push(v);
    }
    if (source && !v.sources.some((s) => s.registry === source.registry && s.repository === source.repository)) {
      v.sources.unshift(source);
      v.sources.length = Math.min(v.sources.length, MAX_SOURCES);
    }
    await mkdir(this.dir, { recursive: true });
    const target = this.file(diffId);
    await writeFileAtomic(target, JSON.stringify({ variants }));
  }
}
