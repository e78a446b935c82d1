/**
 * `kiln supervise`: not for users — the supervisor of one detached container, started by `kiln
 * run -d`, `kiln start` and `kiln restart` (see runtime/lifecycle/supervisor.ts). It learns which
 * container on descriptor 3 and returns when that container is down for good.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { join } from 'node:path';
import { defaultStoreRoot } from '../store/store.js';
import { Lease } from '../store/leases.js';

export const spec: CommandSpec = {
  name: 'supervise',
  usage: '',
  maxArgs: 0,
  flags: [],
};

export async function run(_args: ParsedArgs): Promise<number> {
  const [{ receiveAssignment }, { superviseContainer }] = await Promise.all([
    import('../runtime/lifecycle/supervisorLaunch.js'), import('../runtime/lifecycle/supervisor.js'),
  ]);
  const assignment = await receiveAssignment();
  if (!assignment) return 0;
  const storeRoot = defaultStoreRoot();
  // The supervisor holds the container's image and volume sources through the store's lease.
  const holdContent = async (names: readonly string[]): Promise<() => void> => {
    const lease = new Lease(join(storeRoot, 'leases'));
    await lease.hold(names);
    return () => lease.release();
  };
  await superviseContainer(storeRoot, assignment.id, assignment.report, holdContent);
  return 0;
}
