/**
 * `kiln restart [-t SECONDS] CONTAINER...`: a running container is stopped as `kiln stop` stops
 * it and started again — by its supervisor, which stays; a stopped one is just started. A
 * container run in the foreground cannot outlive that `kiln run`: it is stopped there and
 * started again under a supervisor.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { timeoutFlag } from './stop.js';
import { isLive } from '../runtime/containerRecords.js';
import { recordedRestart, stopContainer } from '../runtime/lifecycle/containerControl.js';
import { startUnderSupervisor } from '../runtime/lifecycle/containerStart.js';
import { DEFAULT_STOP_TIMEOUT, storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import { defaultStoreRoot } from '../store/store.js';

export const spec: CommandSpec = {
  name: 'restart',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [
    { name: 'time', short: 't', kind: 'string', description: 'Seconds to wait before killing the container', valueName: 'int' },
    { name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container', valueName: 'string' },
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const timeout = timeoutFlag(args.strings.get('time'));
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    const stored = storedContainerOrUndefined(records.containerDir(rec.id));
    const signal = args.strings.get('signal') ?? stored?.stopSignal ?? 'SIGTERM';
    const deadline = timeout ?? stored?.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (isLive(rec) && rec.detached) {
      await stopContainer(records, rec, signal, deadline, 'restart');
      await recordedRestart(records, rec);
    } else {
      if (isLive(rec)) await stopContainer(records, rec, signal, deadline, 'stop');
      await startUnderSupervisor(records, defaultStoreRoot(), (await records.get(rec.id)));
    }
    process.stdout.write(`${name}\n`);
  });
}
