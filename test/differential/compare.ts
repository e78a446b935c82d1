/**
 * How two results of one recipe differ, in words a reader can act on: each config field,
 * each history line, each path whose record differs (with both records), each path only one
 * side has. An empty list means they agree.
 */
import { CONFIG_FIELDS, type FileRecord, type HistoryRecord, type Snapshot } from './imageSnapshot.js';

export type Judged = Snapshot & { removed: string[] };

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

function historyLine(h: HistoryRecord | undefined): string {
  return h === undefined ? '(none)' : `${h.created_by}${h.empty_layer ? ' [empty_layer]' : ''}`;
}

export function differences(expected: Judged, actual: Judged): string[] {
  const out: string[] = [];
  for (const f of CONFIG_FIELDS) {
    if (JSON.stringify(expected.config[f]) !== JSON.stringify(actual.config[f])) out.push(`config ${f}: expected ${show(expected.config[f])}, kiln ${show(actual.config[f])}`);
  }
  const n = Math.max(expected.history.length, actual.history.length);
  for (let i = 0; i < n; i++) {
    const e = expected.history[i];
    const a = actual.history[i];
    if (JSON.stringify(e) !== JSON.stringify(a)) out.push(`history[${i}]: expected ${historyLine(e)}, kiln ${historyLine(a)}`);
  }
  const paths = new Set([...Object.keys(expected.files), ...Object.keys(actual.files)]);
  for (const p of [...paths].sort()) {
    const e: FileRecord | undefined = expected.files[p];
    const a: FileRecord | undefined = actual.files[p];
    if (JSON.stringify(e) !== JSON.stringify(a)) out.push(`file ${p}: expected ${show(e)}, kiln ${show(a)}`);
  }
  const removed = new Set([...expected.removed, ...actual.removed]);
  for (const p of [...removed].sort()) {
    const inE = expected.removed.includes(p);
    const inA = actual.removed.includes(p);
    if (inE !== inA) out.push(`base path ${p}: ${inE ? 'removed' : 'kept'} as expected, ${inA ? 'removed' : 'kept'} by kiln`);
  }
  return out;
}
