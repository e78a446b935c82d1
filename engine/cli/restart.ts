/**
 * `kiln restart [-t SECONDS] CONTAINER...`: a running container is stopped as `kiln stop` stops
 * it and started again — by its supervisor, which stays; a stopped one is just started. A
 * container run in the foreground cannot outlive that `kiln run`: it is stopped there and
 * started again under a supervisor.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { spec as stopSpec, stopFlags } from './stop.js';
import { isLive } from '../runtime/containerRecords.js';
import { recordedRestart, stopContainer } from '../runtime/lifecycle/containerControl.js';
import { startUnderSupervisor } from '../runtime/lifecycle/containerStart.js';
import { DEFAULT_STOP_TIMEOUT, storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import { defaultStoreRoot } from '../store/store.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'restart',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: stopSpec.flags,
};

export async function run(args: ParsedArgs): Promise<number> {
  // A bad -s is refused here, as `kiln stop` refuses it, not half-way through a stop.
  const { timeout, signal: signalFlag } = stopFlags(args);
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    const stored = storedContainerOrUndefined(records.containerDir(rec.id));
    const signal = signalFlag ?? stored?.stopSignal ?? 'SIGTERM';
    const deadline = timeout ?? stored?.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (isLive(rec) && rec.detached) {
      await stopContainer(records, rec, signal, deadline, 'restart');
      await recordedRestart(records, rec);
    } else {
      if (isLive(rec)) await stopContainer(records, rec, signal, deadline, 'stop');
      await startUnderSupervisor(records, defaultStoreRoot(), (await records.get(rec.id)));
    }
    writeStdout(`${name}\n`);
  });
}
