/**
 * Answers `kiln build` from its replay record (replayRecord.ts) when every input is as the record
 * says: the same command line, environment and working directory, every witnessed file as it
 * was, every entry of the context as it was (one listing per directory), the store's tags byte
 * for byte, the image and each cache record the build hit still in the store. The records are
 * marked used (as a hit marks them), and what the build printed is printed again. bin/kiln asks this before it loads the build (a bundle of its own, a few kB);
 * anything not as recorded, or anything unexpected, and the build runs in full.
 */
import { lstatSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { privilege } from '../../host/privilege.js';
import { isTerminal } from '../../host/isTerminal.js';
import { writeAll } from '../../host/standardStreams.js';
import { defaultStoreRoot } from '../../store/storeRoot.js';
import { splitGlobalOptions } from '../globalOptions.js';
import { cacheRecordFile, contextState, readRefs, REPLAY_FORMAT, replayFile, witnessesHold, type ReplayRecord } from './replayRecord.js';

/**
 * The build's exit status when the record answered it; undefined when the build must run.
 * `argv` is the command line after `kiln`; `kiln` the id of the whole bundle beside this one.
 */
export function replayBuild(argv: readonly string[], kiln: string): number | undefined {
  let record: ReplayRecord | undefined;
  try {
    record = matchingRecord(argv, kiln);
  } catch {
    return undefined;
  }
  if (record === undefined) return undefined;
  try {
    for (const [fd, encoding, data] of record.output) writeAll(fd, encoding === 'utf8' ? data : Buffer.from(data, 'base64'));
    return 0;
  } catch {
    return 1; // standard output or error closed: some of it may be out already, so not again
  }
}

function matchingRecord(argv: readonly string[], kiln: string): ReplayRecord | undefined {
  if (privilege() !== 'host-root') return undefined;
  const root = storeRootOf(argv);
  const cwd = process.cwd();
  let text: string;
  try {
    text = readFileSync(replayFile(root, cwd, argv), 'utf8');
  } catch {
    return undefined;
  }
  const r = JSON.parse(text) as ReplayRecord;
  if (r.format !== REPLAY_FORMAT || r.kiln !== kiln || r.cwd !== cwd || !sameList(r.argv, argv) || !sameEnvironment(r.env, process.env)) return undefined;
  if (r.terminal !== null && r.terminal !== isTerminal(2)) return undefined;
  if (!witnessesHold(r.witness) || readRefs(root) !== r.refs) return undefined;
  const context = contextState(r.context.dir);
  if (context === undefined || context.entries !== r.context.entries || context.digest !== r.context.digest) return undefined;
  const hex = r.image.slice('sha256:'.length);
  for (const file of [join(root, 'images', `${hex}.json`), join(root, 'blobs', 'sha256', hex)]) {
    if (lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
  }
  // Marked used as a hit marks them (what prune ages by); one pruned means the step runs again.
  const now = new Date();
  for (const key of r.records) utimesSync(cacheRecordFile(root, key), now, now);
  return r;
}

/** The store the command line names (`--root DIR` before the verb), else the default. */
function storeRootOf(argv: readonly string[]): string {
  const { root } = splitGlobalOptions(argv);
  return defaultStoreRoot(root === undefined ? process.env : { ...process.env, KILN_ROOT: root });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameEnvironment(recorded: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv): boolean {
  let n = 0;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (recorded[k] !== v) return false;
    n++;
  }
  return n === Object.keys(recorded).length;
}
