/**
 * The build's side of replay records (replayRecord.ts): a build whose command line a replay can
 * answer taps what it prints, and when it ends having run nothing (every step answered from the
 * cache, nothing pulled, the store's tags as they were when it started) it records its inputs
 * and its answer. Anything else keeps no record, and the next build runs in full:
 * - flags whose work a replay would skip or whose output it could not repeat: --no-cache,
 *   --output, --push, --report, --explain, --check, --secret, named contexts, cache import and
 *   export, a terminal's progress view, JSON progress (its timestamps), stdin as recipe or context;
 * - a context of more than CONTEXT_LIMIT entries (checking it would cost what the build's own
 *   walk does), or one with a symlink at its root;
 * - a build whose inputs changed while it ran, or so shortly before that their timestamps could
 *   hide a next change (replayRecord.ts).
 * - an unprivileged build (it re-runs itself in a user namespace of its own).
 */
import { lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ParsedArgs } from '../args.js';
import { launched, type Launch } from '../launch.js';
import { privilege } from '../../host/privilege.js';
import { isTerminal } from '../../host/isTerminal.js';
import { tapStandardStreams } from '../../host/standardStreams.js';
import { writeFileAtomic } from '../../store/atomicFile.js';
import { RACY_WINDOW_MS } from '../../../cache/statCache.js';
import { readRefs, REPLAY_FORMAT, replayFile, signature, witness, type OutputChunk, type ReplayRecord, type Witness } from './replayRecord.js';

/** Most context entries a record witnesses. */
export const CONTEXT_LIMIT = 1000;

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

export class ReplayRecorder {
  private readonly output: OutputChunk[] = [];
  private readonly untap: () => void;
  private refsBefore: string | null | undefined;
  /** The inputs as the build started (before it read any), and when they were read. */
  private readonly before: { witnesses: Witness[] | undefined; since: bigint };

  private constructor(private readonly launch: Launch, private readonly terminal: boolean | null, private readonly contextDir: string, private readonly dockerfile: string | undefined) {
    const since = BigInt(Date.now()) * 1_000_000n;
    this.before = { witnesses: this.witnesses(), since };
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
  async finish(build: FinishedBuild): Promise<void> {
    this.untap();
    if (build.records === undefined || build.pulled || build.kiln === undefined || this.refsBefore === undefined) return;
    const refs = readRefs(build.storeRoot);
    if (refs !== this.refsBefore) return; // tags moved during the build: its bases may be others now
    // The inputs the same after the build as before it (it read them in between), and none changed
    // so shortly before that a next change could keep its timestamps.
    const { witnesses, since } = this.before;
    if (witnesses === undefined || racy(witnesses, since) || !sameWitnesses(witnesses, this.witnesses())) return;
    const record: ReplayRecord = {
      format: REPLAY_FORMAT, kiln: build.kiln, cwd: this.launch.cwd, argv: [...this.launch.argv], env: { ...this.launch.env }, terminal: this.terminal,
      witness: witnesses, refs, image: build.image, records: [...new Set(build.records)].sort(), output: this.output,
    };
    const file = replayFile(build.storeRoot, this.launch.cwd, this.launch.argv);
    const text = JSON.stringify(record);
    if (readOrNull(file) === text) return;
    await writeFileAtomic(file, text).catch(() => undefined); // a record is an optimisation: a full disk only costs the next build its shortcut
  }

  /**
   * The Dockerfile, its ignore files and the whole context; undefined when there is too much to
   * check, or it cannot be read. The recipe and ignore files are read through symlinks (to
   * anywhere), so a symlink's target is witnessed too; the context's entries are copied as
   * they are (a symlink as a symlink, one to follow stays inside the context).
   */
  private witnesses(): Witness[] | undefined {
    try {
      const read = this.dockerfile === undefined
        ? [join(this.contextDir, 'Dockerfile'), join(this.contextDir, 'dockerfile'), join(this.contextDir, 'Dockerfile.dockerignore'), join(this.contextDir, 'dockerfile.dockerignore')]
        : [this.dockerfile, `${this.dockerfile}.dockerignore`];
      const out: Witness[] = [];
      for (const path of [...read, join(this.contextDir, '.dockerignore')]) {
        const w = witness(path);
        out.push(w);
        if (w[1] !== null && lstatSync(path).isSymbolicLink()) out.push(witness(realpathSync(path))); // a dangling one throws: no record
      }
      const root = lstatSync(this.contextDir, { bigint: true, throwIfNoEntry: false });
      if (root === undefined || !root.isDirectory()) return undefined;
      out.push([this.contextDir, signature(root)]);
      return walk(this.contextDir, out, CONTEXT_LIMIT + out.length) ? out : undefined;
    } catch {
      return undefined; // unreadable: the build says so itself
    }
  }
}

/** How close to being recorded a change may be before a later one could carry the same timestamps (the stat cache's window). */
const FINE_MARGIN_NS = BigInt(RACY_WINDOW_MS) * 1_000_000n;
/** A filesystem keeping whole seconds only (ns part 0): two seconds, as FAT's two-second stamps. */
const COARSE_MARGIN_NS = 2_000_000_000n;

/**
 * Whether an entry changed too shortly before `since` (ns since the epoch, taken before the
 * entries were read) for its timestamps to show a next change.
 */
export function racy(witnesses: readonly Witness[], since: bigint): boolean {
  for (const [, sig] of witnesses) {
    if (sig === null) continue;
    const parts = sig.split(':');
    for (const t of [BigInt(parts[6] as string), BigInt(parts[7] as string)]) {
      const margin = t % 1_000_000_000n === 0n ? COARSE_MARGIN_NS : FINE_MARGIN_NS;
      if (t > since - margin) return true;
    }
  }
  return false;
}

function sameWitnesses(a: readonly Witness[], b: readonly Witness[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every(([path, sig], i) => b[i]?.[0] === path && b[i]?.[1] === sig);
}

/** Every entry under `dir` witnessed into `out`; false when there are more than `limit`. */
function walk(dir: string, out: Witness[], limit: number): boolean {
  for (const name of readdirSync(dir).sort()) {
    if (out.length >= limit) return false;
    const path = join(dir, name);
    const st = lstatSync(path, { bigint: true });
    out.push([path, signature(st)]);
    if (st.isDirectory() && !walk(path, out, limit)) return false;
  }
  return true;
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
