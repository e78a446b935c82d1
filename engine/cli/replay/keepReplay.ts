/**
 * The build's side of replay records (replayRecord.ts): a build whose command line a replay can
 * answer taps what it prints, and when it ends having run nothing (every step answered from the
 * cache, nothing pulled, the store's tags as they were when it started) it records its inputs
 * and its answer. Anything else keeps no record, and the next build runs in full:
 * - flags whose work a replay would skip or whose output it could not repeat: --no-cache,
 *   --output, --push, --report, --explain, --check, --secret, named contexts, cache import and
 *   export, a terminal's progress view, JSON progress (its timestamps), stdin as recipe or context;
 * - a context whose root is not a directory (a symlink to one, a URL);
 * - a build whose inputs changed while it ran, or so shortly before it began that their
 *   timestamps could hide a next change (git's "racily clean" entries): the inputs are witnessed
 *   once, as the build ends, and none may have changed since a moment before it began, so what
 *   the build read is what the record holds;
 * - an unprivileged build (it re-runs itself in a user namespace of its own).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ParsedArgs } from '../args.js';
import { launched, type Launch } from '../launch.js';
import { privilege } from '../../host/privilege.js';
import { isTerminal } from '../../host/isTerminal.js';
import { tapStandardStreams } from '../../host/standardStreams.js';
import { watchListings } from '../../host/directoryListing.js';
import { writeFileAtomicSync } from '../../store/atomicFile.js';
import { RACY_WINDOW_MS } from '../../../cache/statCache.js';
import { contextState, summarize, readRefs, REPLAY_FORMAT, replayFile, witness, witnessedType, type ContextState, type ListingSummary, type OutputChunk, type ReplayRecord, type Witness } from './replayRecord.js';

const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

const REPLAYABLE = {
  strings: new Set(['file', 'target', 'progress', 'platform', 'jobs', 'isolation', 'snapshotter']),
  lists: new Set(['tag', 'build-arg', 'allow']),
  bools: new Set(['quiet']),
};

/** What a finished build tells its recorder. */
export interface FinishedBuild {
  storeRoot: string;
  /** The image built. */
  image: string;
  /** The cache records every step was answered from; undefined when a step ran or missed. */
  records: readonly string[] | undefined;
  /** Whether the build pulled an image. */
  pulled: boolean;
  /** The bundle id of the kiln that built (undefined: not started from a bundle). */
  kiln: string | undefined;
}

/** What a build read from the host, as it is when the build ends. */
interface Inputs {
  witnesses: Witness[];
  context: ContextState;
}

export class ReplayRecorder {
  private readonly output: OutputChunk[] = [];
  private readonly untap: () => void;
  private refsBefore: string | null | undefined;
  /** The listings the build's walks read, summed up as they were read (the last of each directory): what it saw. */
  private readonly listings = new Map<string, ListingSummary>();
  /** Just before the build read anything (ms since the epoch). */
  private readonly startedMs = Date.now();

  private constructor(private readonly launch: Launch, private readonly terminal: boolean | null, private readonly contextDir: string, private readonly dockerfile: string | undefined) {
    watchListings((abs, listing) => this.listings.set(abs, summarize(listing)));
    this.untap = tapStandardStreams((fd, data) => {
      this.output.push(typeof data === 'string' ? [fd, 'utf8', data] : [fd, 'base64', data.toString('base64')]);
    });
  }

  /** A recorder for this build, when its command line is one a replay can answer. */
  static start(args: ParsedArgs, contextArg: string): ReplayRecorder | undefined {
    const launch = launched();
    if (launch === undefined || privilege() !== 'host-root') return undefined;
    if (![...args.strings.keys()].every((k) => REPLAYABLE.strings.has(k))) return undefined;
    if (![...args.lists.keys()].every((k) => REPLAYABLE.lists.has(k))) return undefined;
    if (![...args.bools].every((k) => REPLAYABLE.bools.has(k))) return undefined;
    const file = args.strings.get('file');
    if (contextArg === '-' || file === '-') return undefined;
    const terminal = progressTerminal(args);
    if (terminal === 'unrepeatable') return undefined;
    return new ReplayRecorder(launch, terminal, resolve(contextArg), file === undefined ? undefined : resolve(file));
  }

  /** The store's tags as the build starts (before it resolves any image). */
  noteStore(storeRoot: string): void {
    this.refsBefore = readRefs(storeRoot);
  }

  /** Stops listening; with a build that ran nothing, records it. */
  finish(build: FinishedBuild): void {
    this.untap();
    if (build.records === undefined || build.pulled || build.kiln === undefined || this.refsBefore === undefined) return;
    const refs = readRefs(build.storeRoot);
    if (refs !== this.refsBefore) return; // tags moved during the build: its bases may be others now
    const inputs = this.inputs();
    if (inputs === undefined || changedSince(inputs, this.startedMs)) return;
    const record: ReplayRecord = {
      format: REPLAY_FORMAT, kiln: build.kiln, cwd: this.launch.cwd, argv: [...this.launch.argv], env: { ...this.launch.env }, terminal: this.terminal,
      witness: inputs.witnesses, context: { dir: this.contextDir, entries: inputs.context.entries, digest: inputs.context.digest },
      refs, image: build.image, records: [...new Set(build.records)].sort(), output: this.output,
    };
    const file = replayFile(build.storeRoot, this.launch.cwd, this.launch.argv);
    const text = JSON.stringify(record);
    if (readOrNull(file) === text) return;
    try {
      // Checked against everything when read: a crash that loses it costs the next build its shortcut, no more.
      writeFileAtomicSync(file, Buffer.from(text), 0o644, { durable: false });
    } catch {
      // a full disk or a read-only store: the next build runs in full
    }
  }

  /**
   * The Dockerfile, its ignore files, the directory of a Dockerfile named with -f (an ignore
   * file made and removed there while the build ran shows in its times) and the context;
   * undefined when it cannot be read. The recipe and ignore files are read through symlinks (to
   * anywhere), so a symlink's target is witnessed too; the context's entries are copied as they
   * are (a symlink as a symlink; one followed stays inside the context).
   */
  private inputs(): Inputs | undefined {
    try {
      const read = this.dockerfile === undefined
        ? ['Dockerfile', 'dockerfile', 'Dockerfile.dockerignore', 'dockerfile.dockerignore'].map((n) => join(this.contextDir, n))
        : [this.dockerfile, `${this.dockerfile}.dockerignore`, dirname(this.dockerfile)];
      const witnesses: Witness[] = [];
      for (const path of [...read, join(this.contextDir, '.dockerignore')]) {
        const w = witness(path);
        witnesses.push(w);
        if (witnessedType(w, S_IFLNK)) witnesses.push(witness(realpathSync(path))); // a dangling one throws: no record
      }
      const root = witness(this.contextDir);
      if (!witnessedType(root, S_IFDIR)) return undefined;
      witnesses.push(root);
      const context = contextState(this.contextDir, (abs) => this.listings.get(abs));
      return context === undefined ? undefined : { witnesses, context };
    } catch {
      return undefined; // unreadable: the build says so itself
    }
  }
}

/** How close to a build's start a change may be before a later one could carry the same timestamps (the stat cache's window). */
const FINE_MARGIN_MS = RACY_WINDOW_MS;
/** A filesystem keeping whole seconds only: two seconds, as FAT's two-second stamps. */
const COARSE_MARGIN_MS = 2000;

/**
 * Whether any input changed after `sinceMs` less the racy margin: while the build ran (what
 * it read may not be what is witnessed now), or so shortly before it that its timestamps could
 * hide a next change.
 */
export function changedSince(inputs: Inputs, sinceMs: number): boolean {
  const limit = (wholeSeconds: boolean): number => sinceMs - (wholeSeconds ? COARSE_MARGIN_MS : FINE_MARGIN_MS);
  if (inputs.context.entries > 0 && inputs.context.newestMs > limit(inputs.context.wholeSeconds)) return true;
  for (const [, sig] of inputs.witnesses) {
    if (sig === null) continue;
    const parts = sig.split(':');
    for (const ns of [BigInt(parts[6] as string), BigInt(parts[7] as string)]) {
      if (Number(ns / 1_000_000n) > limit(ns % 1_000_000_000n === 0n)) return true;
    }
  }
  return false;
}

/**
 * Whether standard error's being a terminal matters to what the build prints: null with -q or
 * a progress view named outright; false for `auto` away from a terminal (plain). A terminal's
 * view and JSON's timestamps cannot be printed again.
 */
function progressTerminal(args: ParsedArgs): boolean | null | 'unrepeatable' {
  const mode = args.bools.has('quiet') ? 'quiet' : (args.strings.get('progress') ?? 'auto');
  if (mode === 'quiet' || mode === 'plain') return null;
  if (mode !== 'auto') return 'unrepeatable';
  return isTerminal(2) && process.env.TERM !== 'dumb' ? 'unrepeatable' : false;
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
