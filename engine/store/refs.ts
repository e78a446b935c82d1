/**
 * Names that point at images: tags (`docker.io/library/busybox:latest` → image ID) and repo
 * digests (`docker.io/library/busybox@sha256:<manifest>` → image ID, recorded by pulls). One
 * JSON file, rewritten atomically; writers hold the store lock, readers read a whole version.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomicFile.js';

export interface RefsData {
  tags: Record<string, string>;
  digests: Record<string, string>;
}

export class RefsFile {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<RefsData> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8'); // small, and read by nearly every verb: one sync call
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { tags: {}, digests: {} };
      throw err;
    }
    const parsed = JSON.parse(text) as Partial<RefsData>;
    return { tags: parsed.tags ?? {}, digests: parsed.digests ?? {} };
  }

  /** Read-modify-write; the caller holds the store lock. */
  async update(change: (data: RefsData) => void): Promise<RefsData> {
    const data = await this.read();
    change(data);
    const sorted = (m: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    await writeFileAtomic(this.path, `${JSON.stringify({ tags: sorted(data.tags), digests: sorted(data.digests) }, null, 1)}\n`);
    return data;
  }
}
