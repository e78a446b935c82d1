/**
 * `kiln start [-a] CONTAINER...`: starts stopped containers, each under a supervisor of its own
 * (as `kiln run -d` does), with the settings they were created with; a running one is left as
 * it is. With -a, the container's output from this start on is shown and kiln exits with its
 * exit code, as `docker start -a`.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { usageError } from './args.js';
import { isLive } from '../runtime/containerRecords.js';
import { startUnderSupervisor } from '../runtime/lifecycle/containerStart.js';
import { defaultStoreRoot } from '../store/store.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'start',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [{ name: 'attach', short: 'a', kind: 'bool', description: "Attach STDOUT/STDERR and forward signals" }],
};

export async function run(args: ParsedArgs): Promise<number> {
  const attach = args.bools.has('attach');
  if (attach && args.positionals.length > 1) throw usageError('start', 'you cannot start and attach multiple containers at once');
  const records = await containerRecords();
  if (attach) {
    const rec = await records.get(args.positionals[0] as string);
    const { followFrom } = await import('./logs.js');
    const offset = (await import('node:fs')).statSync(records.logPath(rec.id), { throwIfNoEntry: false })?.size ?? 0;
    if (!isLive(rec)) await startUnderSupervisor(records, defaultStoreRoot(), rec);
    return followFrom(records, rec.id, offset);
  }
  return forEachContainer(records, args.positionals, async (rec, name) => {
    if (!isLive(rec)) await startUnderSupervisor(records, defaultStoreRoot(), rec);
    writeStdout(`${name}\n`);
  });
}
