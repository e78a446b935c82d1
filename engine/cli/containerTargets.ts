/**
 * What the container verbs (stop, kill, start, restart, wait, logs, attach, exec, pause, stats,
 * rm, inspect) share: the store's container records, swept of containers whose holder died
 * (runtime/lifecycle/deadHolders.ts), and docker's way of going through the containers a
 * command names — each one's error on its own line, the rest still done, exit 1 if any failed.
 */
import { openStore } from './openStore.js';
import { KilnError } from '../errors/kilnError.js';
import { ContainerRecords, type ContainerRecord } from '../runtime/containerRecords.js';
import { sweepDeadHolders } from '../runtime/lifecycle/deadHolders.js';

export async function containerRecords(): Promise<ContainerRecords> {
  const store = await openStore();
  const records = new ContainerRecords(store.root);
  await sweepDeadHolders(records);
  return records;
}

/** Runs `act` for each named container; reports failures as docker does; returns the exit code. */
export async function forEachContainer(records: ContainerRecords, names: readonly string[], act: (rec: ContainerRecord, name: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const name of names) {
    try {
      await act(await records.get(name), name);
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      process.stderr.write(`Error response from daemon: ${err.message}\n`);
      status = 1;
    }
  }
  return status;
}
