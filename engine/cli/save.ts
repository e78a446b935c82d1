/** `kiln save IMAGE...`: images from the store into one docker-save archive (docker's layout with an OCI layout inside), to a file or standard output. */
import { readlinkSync } from 'node:fs';
import { usageError, type CommandSpec, type ParsedArgs } from './args.js';
import { KilnError } from '../errors/kilnError.js';
import { openStore } from './openStore.js';
import { archiveBytes, resolveSaveItems, writeArchive } from '../archive/dockerSave.js';
import { writeArchiveFile } from '../archive/archiveFile.js';
import { refusal } from '../errors/refusal.js';
import { parseImageArgument } from '../image/imageArgument.js';

export const spec: CommandSpec = {
  name: 'save',
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
    throw new KilnError('USAGE', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const names = args.positionals.map(parseImageArgument);
  const store = await openStore();
  const items = await resolveSaveItems(store, names);
  if (output === undefined) {
    try {
      await writeArchive(store, items, process.stdout, format);
    } catch (err) {
      throw refusal(err, { place: { kind: 'output', path: standardOutput() }, what: 'the archive', neededBytes: await archiveBytes(store, items) });
    }
    return 0;
  }
  await writeArchiveFile(store, items, output, format);
  return 0;
}

/** The file standard output writes to, when it is one (for messages); else "standard output". */
function standardOutput(): string {
  try {
    const target = readlinkSync('/proc/self/fd/1');
    if (target.startsWith('/')) return target;
  } catch {
    // no /proc
  }
  return 'standard output';
}
