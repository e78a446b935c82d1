/**
 * `kiln wait CONTAINER...`: blocks until each container is down for good (not running, not
 * being restarted by its policy) and prints its exit code, one a line, as `docker wait`.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { downForGood } from '../runtime/lifecycle/containerStart.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'wait',
  usage: 'CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec) => {
    const done = await downForGood(records, rec.id);
    writeStdout(`${done.exitCode ?? 0}\n`);
  });
}
