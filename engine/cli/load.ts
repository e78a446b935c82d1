import type { CommandSpec, ParsedArgs } from './args.js';
import { KilnError } from '../errors/kilnError.js';
import { openStore } from './openStore.js';
import { describeLoaded, loadArchive } from '../archive/load.js';

export const spec: CommandSpec = {
  name: 'load',
  usage: '[OPTIONS]',
  maxArgs: 0,
  flags: [
    { name: 'input', short: 'i', kind: 'string', description: 'Read from tar archive file, instead of STDIN', valueName: 'string' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the load output' },
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const input = args.strings.get('input');
  if (input === undefined && process.stdin.isTTY) {
    throw new KilnError('USAGE', 'requested load from stdin, but stdin is empty (use -i FILE or redirect)');
  }
  const store = await openStore();
  const loaded = input === undefined
    ? await loadArchive(store, process.stdin, { source: 'standard input' })
    : await loadArchive(store, input, { source: input });
  if (!args.bools.has('quiet')) for (const line of describeLoaded(loaded)) process.stdout.write(`${line}\n`);
  return 0;
}
