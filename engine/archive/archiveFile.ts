/**
 * An archive written to a file all-or-nothing: streamed into a temp file beside the target,
 * then renamed over it, so a failed save or build output never leaves a truncated archive (and
 * a killed one's temp file goes with the next archive written into that directory).
 */
import { createWriteStream } from 'node:fs';
import { readdir, rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join, resolve } from 'node:path';
import { KilnError } from '../errors.js';
import { parseTag, selfTag, tagAlive } from '../processIdentity.js';
import { refusal } from '../refusal.js';
import type { Store } from '../store/store.js';
import { archiveBytes, writeArchive, type ArchiveLayout, type SaveItem } from './dockerSave.js';

export async function writeArchiveFile(store: Store, items: readonly SaveItem[], path: string, layout: ArchiveLayout): Promise<void> {
  const target = resolve(path);
  const tmp = join(dirname(target), `.${basename(target)}.kiln-${selfTag()}.tmp`);
  await sweepDeadTemps(dirname(target));
  const out = createWriteStream(tmp, { flags: 'wx' });
  try {
    await once(out, 'open');
    await writeArchive(store, items, out, layout);
    out.end();
    await once(out, 'finish');
    await new Promise<void>((r, j) => out.close((err) => (err ? j(err) : r())));
    await rename(tmp, target);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    const needed = await archiveBytes(store, items).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new KilnError('SAVE_FAILED', 'is a directory (give the archive a file name)', { location: { file: path } });
    throw refusal(err, { place: { kind: 'output', path }, what: 'the archive', ...(needed !== undefined ? { neededBytes: needed } : {}) });
  }
}

/**
 * The temp files of kiln processes killed while they wrote an archive into `dir` (SIGKILL skips
 * every clean-up): removed by the next archive written there. A live writer's are left alone.
 */
async function sweepDeadTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^\..+\.kiln-(\d+-\d+)\.tmp$/.exec(name);
    const tag = m ? parseTag(m[1] as string) : undefined;
    if (tag !== undefined && !tagAlive(tag)) await unlink(join(dir, name)).catch(() => undefined);
  }
}
