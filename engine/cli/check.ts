/**
 * `kiln check [--full] [--repair]`: verifies the store (docker has no such verb; containerd's
 * `ctr content verify` is the nearest): every blob against its digest, every image's record →
 * config → layers chain and its tags, every build cache record's layers, every snapshot against
 * its layer (file by file with --full), and temp files dead writers left. Prints one line per
 * problem and exits 1 when there is any; with --repair drops what is broken and unpacks broken
 * snapshots again, saying what it did, and exits 0 when everything could be repaired.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { checkStore } from '../store/check.js';
import { checkRecords } from '../../cache/checkRecords.js';

export const spec: CommandSpec = {
  name: 'check',
  ownUserNamespace: 'if-mapped',
  usage: '[OPTIONS]',
  flags: [
    { name: 'full', kind: 'bool', description: 'Also compare every snapshot, file by file, with its layer (slow)' },
    { name: 'repair', kind: 'bool', description: 'Drop what is broken (blobs, images, tags, cache records) and unpack broken snapshots again' },
  ],
  maxArgs: 0,
};

export async function run(args: ParsedArgs): Promise<number> {
  const store = await openStore();
  const full = args.bools.has('full');
  const checked = await checkStore(store, { full });
  const records = await checkRecords(store, checked.badBlobs);
  const findings = [...checked.findings, ...records.findings];
  const { blobs, images, tags, snapshots } = checked.counts;
  const out = (line: string): void => { process.stdout.write(`${line}\n`); };
  out(`checked ${blobs} blobs, ${images} images, ${tags} tags, ${snapshots} snapshots${full ? ' (file by file)' : ''}, ${records.records} build cache records`);
  if (findings.length === 0) {
    out('no problems found');
    return 0;
  }
  const repair = args.bools.has('repair');
  let unrepaired = 0;
  for (const f of findings) {
    if (!repair) {
      out(`${f.subject}: ${f.problem}`);
      continue;
    }
    try {
      out(`${f.subject}: ${f.problem}: ${await f.repair()}`);
    } catch (err) {
      unrepaired++;
      out(`${f.subject}: ${f.problem}: not repaired: ${(err as Error).message}`);
    }
  }
  if (!repair) {
    out(`${findings.length} problem${findings.length === 1 ? '' : 's'} found (kiln check --repair drops what is broken and unpacks snapshots again)`);
    return 1;
  }
  out(unrepaired === 0 ? `${findings.length} problem${findings.length === 1 ? '' : 's'} repaired` : `${unrepaired} of ${findings.length} problems could not be repaired`);
  return unrepaired === 0 ? 0 : 1;
}
