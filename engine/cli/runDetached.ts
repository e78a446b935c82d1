/**
 * `kiln run`'s lifecycle flags — `-d` (a supervisor holds the container and the command returns
 * with its ID, as `docker run -d`), `--restart`, `--stop-signal`, `--stop-timeout` — and the
 * detached start itself.
 */
import { flagValueError, integerFlag, type FlagSpec, type ParsedArgs } from './args.js';
import type { ContainerRecord } from '../runtime/containerRecords.js';
import { NO_RESTART, parseRestartPolicy, type RestartPolicy } from '../runtime/lifecycle/restartPolicy.js';
import type { SupervisorLaunch } from '../runtime/lifecycle/supervisorLaunch.js';
import { signalName } from '../runtime/lifecycle/signals.js';
import { writeStdout } from '../host/standardStreams.js';

export const LIFECYCLE_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', kind: 'bool', description: 'Run container in background and print container ID' },
  { name: 'restart', kind: 'string', description: 'Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)', valueName: 'string' },
  { name: 'stop-signal', kind: 'string', description: 'Signal to stop the container (default: the image\'s STOPSIGNAL, else SIGTERM)', valueName: 'string' },
  { name: 'stop-timeout', kind: 'string', description: 'Timeout (in seconds) to stop a container', valueName: 'int' },
];

export interface LifecycleOptions {
  detach: boolean;
  restart: RestartPolicy;
  stopSignal?: string;
  stopTimeout?: number;
}

export function lifecycleOptions(args: ParsedArgs): LifecycleOptions {
  const restart = args.strings.has('restart') ? parseRestartPolicy(args.strings.get('restart') as string) : NO_RESTART;
  if (restart.name !== 'no' && args.bools.has('rm')) throw flagValueError('Conflicting options: --restart and --rm');
  const out: LifecycleOptions = { detach: args.bools.has('detach'), restart };
  const sig = args.strings.get('stop-signal');
  if (sig !== undefined) out.stopSignal = signalName(sig);
  const timeout = args.strings.get('stop-timeout');
  if (timeout !== undefined) out.stopTimeout = integerFlag(timeout, '--stop-timeout');
  return out;
}

/** Hands the created container to its supervisor, waits for its command to run, prints its ID. */
export async function startDetached(record: ContainerRecord, launch: SupervisorLaunch): Promise<number> {
  await launch.start(record.id);
  writeStdout(`${record.id}\n`);
  return 0;
}
