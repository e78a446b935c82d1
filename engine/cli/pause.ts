/**
 * `kiln pause CONTAINER...`: freezes every process of each container (runtime/lifecycle/
 * freezer.ts); `kiln ps` shows it as Paused until `kiln unpause`.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { pauseContainer } from '../runtime/lifecycle/pauseContainer.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'pause',
  usage: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    await pauseContainer(rec, true);
    writeStdout(`${name}\n`);
  });
}
