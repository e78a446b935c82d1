/** `kiln unpause CONTAINER...`: thaws what `kiln pause` froze. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { pauseContainer } from '../runtime/lifecycle/pauseContainer.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'unpause',
  usage: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    await pauseContainer(rec, false);
    writeStdout(`${name}\n`);
  });
}
