import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { once } from 'node:events';
import { usageError, type CommandSpec, type ParsedArgs } from './args.js';
import { KilnError } from '../errors.js';
import { openStore } from './openStore.js';

export const spec: CommandSpec = {
  name: 'save',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  minArgs: 1,
  flags: [
    { name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT', valueName: 'string' },
    { name: 'format', kind: 'string', description: 'Archive layout: "docker" (docker save, with an OCI layout inside) or "oci" (an OCI image layout)', valueName: 'string' },
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const format = args.strings.get('format') ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw usageError('save', `invalid --format "${format}": use docker or oci`);
  const output = args.strings.get('output');
  if (output === undefined && process.stdout.isTTY) {
    throw new KilnError('USAGE', 'cowardly refusing to save to a terminal. Use the -o flag or redirect', { exitCode: 1 });
  }
  const { resolveSaveItems, writeArchive } = await import('../archive/dockerSave.js');
  const store = await openStore();
  const items = await resolveSaveItems(store, args.positionals);
  if (output === undefined) {
    await writeArchive(store, items, process.stdout, format);
    return 0;
  }
  // Write beside the target and rename: a failed save never leaves a truncated archive.
  const target = resolve(output);
  const tmp = join(dirname(target), `.${basename(target)}.kiln-${process.pid}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx' });
  try {
    await once(out, 'open');
    await writeArchive(store, items, out, format);
    out.end();
    await once(out, 'finish');
    await new Promise<void>((r, j) => out.close((err) => (err ? j(err) : r())));
    await rename(tmp, target);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') throw new KilnError('SAVE_FAILED', `failed to save to ${output}: ${e.message}`, { location: { file: output } });
    throw err;
  }
  return 0;
}
