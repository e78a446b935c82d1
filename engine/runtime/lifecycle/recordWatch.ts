/**
 * Waiting for a container's record to reach a state (`kiln wait`, stop, restart, rm -f): the
 * record is re-read whenever its directory changes (inotify, through fs.watch: a holder writes
 * it by rename), and at a slow pace besides, for what writes no file — a holder that died.
 * Polling alone, fast enough for stop's latency, cost a waiting command a core's tenth.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { ContainerRecord, ContainerRecords } from '../containerRecords.js';

/** How often the record is read again without a change seen (a holder's death writes nothing). */
const FALLBACK_MS = 100;

/**
 * Resolves with the first value other than undefined that `check` returns for the container's
 * record (undefined once it is removed).
 */
export async function untilRecord<T>(records: ContainerRecords, id: string, check: (rec: ContainerRecord | undefined) => T | undefined): Promise<T> {
  let changed = false;
  let wake: (() => void) | undefined;
  const onChange = (): void => {
    changed = true;
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(records.containerDir(id), onChange);
    watcher.on('error', onChange);
  } catch {
    // the directory is gone: the check below sees the record removed
  }
  try {
    for (;;) {
      changed = false;
      const value = check(records.read(id));
      if (value !== undefined) return value;
      if (!changed) await nextWake((resolve) => { wake = resolve; });
      wake = undefined;
    }
  } finally {
    watcher?.close();
  }
}

function nextWake(register: (resolve: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, FALLBACK_MS);
    register(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
