/**
 * The sweep every container command starts with: containers whose holder (a supervisor, or a
 * foreground `kiln run`) was killed outright are written down as exited (137), and what such a
 * holder left on the host is removed — its containers' cgroups (named after it, cgroupOwner.ts)
 * and its start's temp files. Mounts need nothing: they lived in the container's own mount
 * namespace and went with its last process. Only what a verifiably dead process owned is taken.
 */
import { sweepAbandonedStateDirs } from '../container.js';
import { hostCgroupLayout } from '../cgroupLayout.js';
import { kilnParents } from '../cgroups.js';
import { sweepDeadOwners } from '../cgroupRemoval.js';
import type { ContainerRecords } from '../containerRecords.js';
import { privilege } from '../../host/privilege.js';

export async function sweepDeadHolders(records: ContainerRecords): Promise<void> {
  const swept = await records.sweepDeadHolders();
  if (swept.length === 0) return;
  sweepAbandonedStateDirs();
  const layout = hostCgroupLayout();
  if (layout && privilege() === 'host-root') await sweepDeadOwners(kilnParents(layout));
}
