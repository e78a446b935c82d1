/**
 * `kiln stop [-t SECONDS] [-s SIGNAL] CONTAINER...`: the container's stop signal (the image's
 * STOPSIGNAL, --stop-signal, else SIGTERM), then SIGKILL when it has not exited after the
 * timeout (its --stop-timeout, else 10 s; -1 waits for ever). Returns once the exit is recorded;
 * a container that was not running is left as it is, and its name printed all the same.
 */
import { integerFlag, type CommandSpec, type ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { stopContainer } from '../runtime/lifecycle/containerControl.js';
import { signalName } from '../runtime/lifecycle/signals.js';
import { DEFAULT_STOP_TIMEOUT, storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'stop',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [
    { name: 'time', short: 't', kind: 'string', description: 'Seconds to wait before killing the container', valueName: 'int' },
    { name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container', valueName: 'string' },
  ],
};

/** -t and -s of `kiln stop` and `kiln restart`, checked before any container is touched. */
export function stopFlags(args: ParsedArgs): { timeout?: number; signal?: string } {
  const timeout = timeoutFlag(args.strings.get('time'));
  const signal = args.strings.has('signal') ? signalName(args.strings.get('signal') as string) : undefined;
  return { ...(timeout !== undefined ? { timeout } : {}), ...(signal !== undefined ? { signal } : {}) };
}

/** `-t` as docker reads it: whole seconds, -1 for no deadline. */
export function timeoutFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return integerFlag(text, '-t, --time');
}

export async function run(args: ParsedArgs): Promise<number> {
  const { timeout, signal } = stopFlags(args);
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    const stored = storedContainerOrUndefined(records.containerDir(rec.id));
    await stopContainer(records, rec, signal ?? stored?.stopSignal ?? 'SIGTERM', timeout ?? stored?.stopTimeout ?? DEFAULT_STOP_TIMEOUT, 'stop');
    writeStdout(`${name}\n`);
  });
}
