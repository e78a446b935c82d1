/**
 * `kiln kill [-s SIGNAL] CONTAINER...`: a signal (default SIGKILL) to each container's PID 1.
 * As moby decides it, a kill with SIGKILL or the container's stop signal (any signal, when the
 * image names none) also means "do not restart it", and any kill counts as stopped by hand for
 * --restart unless-stopped.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { KilnError } from '../errors/kilnError.js';
import { signalContainer } from '../runtime/lifecycle/containerControl.js';
import { signalName } from '../runtime/lifecycle/signals.js';
import { storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'kill',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [{ name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container (default "KILL")', valueName: 'string' }],
};

export async function run(args: ParsedArgs): Promise<number> {
  const signal = signalName(args.strings.get('signal') ?? 'KILL');
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    const stored = storedContainerOrUndefined(records.containerDir(rec.id));
    const canceled = signal === 'SIGKILL' || !stored?.stopSignalSet || signal === stored.stopSignal;
    if (!(await signalContainer(records.containerDir(rec.id), rec, signal, { kind: 'kill', canceled }))) {
      throw new KilnError('NOT_RUNNING', `Cannot kill container: ${name}: Container ${rec.id} is not running`);
    }
    writeStdout(`${name}\n`);
  });
}
