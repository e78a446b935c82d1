/**
 * A note kiln prints once per process on standard error (not per container or RUN step): what
 * it does instead when the machine gives less (no cgroup without root, no device cgroup).
 */
import { writeStderr } from '../host/standardStreams.js';
const said = new Set<string>();

export function noticeOnce(key: string, text: string): void {
  if (said.has(key)) return;
  said.add(key);
  writeStderr(`kiln: note: ${text}\n`);
}
