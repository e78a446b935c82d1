/** Small in-memory tar archives for tests that feed hand-made (and hostile) layers and archives. */
import { pack as tarPack, type Header } from 'tar-stream';

export interface TarItem {
  name: string;
  body?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  /** Default 0644 for files, 0755 otherwise. */
  mode?: number;
}

/** Packs `items` in order; `mtime` fixes every entry's time (tar-stream's default is now). */
export async function makeTar(items: TarItem[], opts: { mtime?: Date } = {}): Promise<Buffer> {
  const p = tarPack();
  const out: Buffer[] = [];
  const reading = (async () => { for await (const c of p as unknown as AsyncIterable<Buffer>) out.push(c); })();
  for (const it of items) {
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null): void => (err ? rej(err) : res());
      const type = it.type ?? 'file';
      const time: Partial<Header> = opts.mtime ? { mtime: opts.mtime } : {};
      if (type === 'file') p.entry({ name: it.name, type, mode: it.mode ?? 0o644, ...time }, Buffer.from(it.body ?? ''), cb);
      else p.entry({ name: it.name, type, linkname: it.linkname ?? '', mode: it.mode ?? 0o755, ...time }, cb);
    });
  }
  p.finalize();
  await reading;
  return Buffer.concat(out);
}
