/**
 * Starting a container that is not running — `kiln start`, `kiln restart` of a stopped one —
 * under a new supervisor, and waiting for a container to be down for good (`kiln wait`).
 */
import { KilnError } from '../../errors/kilnError.js';
import { isLive, withHolderChecked, type ContainerRecord, type ContainerRecords } from '../containerRecords.js';
import { untilRecord } from './recordWatch.js';
import { readStoredContainer } from './storedContainer.js';
import { SupervisorLaunch } from './supervisorLaunch.js';

/** Starts `rec` under a supervisor of its own and waits until its command runs. */
export async function startUnderSupervisor(records: ContainerRecords, storeRoot: string, rec: ContainerRecord): Promise<void> {
  readStoredContainer(records.containerDir(rec.id), rec.id); // a container without its settings cannot start: say so here
  const launch = SupervisorLaunch.begin(storeRoot);
  try {
    await launch.start(rec.id);
  } finally {
    launch.abandon();
  }
}

/** Resolves with the record once the container is down for good (not running, not restarting). */
export async function downForGood(records: ContainerRecords, id: string): Promise<ContainerRecord> {
  const rec = await untilRecord(records, id, (now) => (now === undefined ? null : isLive(now) ? undefined : withHolderChecked(now)));
  if (!rec) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${id}`);
  return rec;
}
