/** Pausing and unpausing one container, with docker's refusals (not running, already paused, not paused). */
import { KilnError } from '../../errors/kilnError.js';
import { isLive, type ContainerRecord } from '../containerRecords.js';
import { privilege } from '../../host/privilege.js';
import { freezerOf, isFrozen, setFrozen } from './freezer.js';

export async function pauseContainer(rec: ContainerRecord, pause: boolean): Promise<void> {
  if (!isLive(rec) || rec.state !== 'running') throw new KilnError('NOT_RUNNING', `Container ${rec.id} is not running`);
  const freezer = freezerOf(rec.cgroupDirs);
  if (!freezer) {
    const why = privilege() !== 'host-root' ? 'a rootless kiln has no cgroup of its own for it (this host delegates none)' : 'this host has neither the v1 freezer nor a cgroup v2 hierarchy for it';
    throw new KilnError('FREEZER', `cannot ${pause ? 'pause' : 'unpause'} container ${rec.id}: ${why}`);
  }
  if (pause && isFrozen(freezer)) throw new KilnError('PAUSED', `Container ${rec.id} is already paused`);
  if (!pause && !isFrozen(freezer)) throw new KilnError('NOT_PAUSED', `Container ${rec.id} is not paused`);
  await setFrozen(freezer, pause);
}
