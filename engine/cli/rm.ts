/**
 * `kiln rm [-f] CONTAINER...`: removes stopped containers, their writable layers and logs. With
 * -f a running one is killed first (SIGKILL, no restart), and removed once the process holding
 * it (its supervisor, or the foreground `kiln run`) has let it go.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords, forEachContainer } from './containerTargets.js';
import { KilnError } from '../errors/kilnError.js';
import { holderAlive, isLive, type ContainerRecord, type ContainerRecords } from '../runtime/containerRecords.js';
import { signalContainer } from '../runtime/lifecycle/containerControl.js';
import { leaveRequest } from '../runtime/lifecycle/holderRequest.js';
import { untilRecord } from '../runtime/lifecycle/recordWatch.js';
import { writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'rm',
  ownUserNamespace: 'if-mapped',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
  ],
};


export async function run(args: ParsedArgs): Promise<number> {
  const records = await containerRecords();
  return forEachContainer(records, args.positionals, async (rec, name) => {
    if (isLive(rec)) {
      if (!args.bools.has('force')) {
        throw new KilnError('RUNNING', `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`);
      }
      await killForRemoval(records, rec);
    }
    await records.remove(rec.id);
    writeStdout(`${name}\n`);
  });
}

/**
 * SIGKILL, no restart; then waits until the holder has written the exit, cleaned up and ended,
 * so nothing writes into the directory being removed. A container between two runs of its
 * restart policy has no process: the request alone ends its holder's wait.
 */
async function killForRemoval(records: ContainerRecords, rec: ContainerRecord): Promise<void> {
  const dir = records.containerDir(rec.id);
  const request = { kind: 'kill', canceled: true } as const;
  if (!(await signalContainer(dir, rec, 'SIGKILL', request))) leaveRequest(dir, request);
  let signalled = rec.pid;
  await untilRecord(records, rec.id, (now) => {
    if (!now || !holderAlive(now)) return true;
    if (now.state === 'running' && now.pid !== signalled) {
      signalled = now.pid; // the policy's next run began before the request was seen
      void signalContainer(dir, now, 'SIGKILL', request);
    }
    return undefined;
  });
}
