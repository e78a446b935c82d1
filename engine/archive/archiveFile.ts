/**
 * An archive written to a file all-or-nothing through the store's atomic writer: streamed into
 * a temp file beside the target, fsynced, renamed over it, so a failed save or build output never
 * leaves a truncated archive (and a killed one's temp file goes with the next archive written
 * into that directory).
 */
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { refusal } from '../errors/refusal.js';
import { fsyncFile, publishTempFile, sweepDeadTemps, tempNameBeside } from '../store/atomicFile.js';
import type { Store } from '../store/store.js';
import { archiveBytes, writeArchive, type ArchiveLayout, type SaveItem } from './dockerSave.js';

export async function writeArchiveFile(store: Store, items: readonly SaveItem[], path: string, layout: ArchiveLayout): Promise<void> {
  const target = resolve(path);
  const tmp = tempNameBeside(target);
  await sweepDeadTemps(dirname(target));
  const out = createWriteStream(tmp, { flags: 'wx' });
  try {
    await once(out, 'open');
    await writeArchive(store, items, out, layout);
    out.end();
    await once(out, 'finish');
    await new Promise<void>((r, j) => out.close((err) => (err ? j(err) : r())));
    await fsyncFile(tmp);
    await publishTempFile(tmp, target);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    const needed = await archiveBytes(store, items).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new KilnError('SAVE_FAILED', 'is a directory (give the archive a file name)', { location: { file: path } });
    throw refusal(err, { place: { kind: 'output', path }, what: 'the archive', ...(needed !== undefined ? { neededBytes: needed } : {}) });
  }
}
