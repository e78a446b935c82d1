/**
 * A differential recipe: a Dockerfile, its build context and build options, built the same way
 * by docker build (BuildKit) and by kiln, with what it checks and where it was drawn from.
 * Placeholders in the Dockerfile and file contents — {BASE} the suite's busybox image, {NONCE}
 * a token unique to the run (cache mount ids, …), {URL} the suite's HTTP server — are filled
 * in before a build and put back in what the builders produced, so results compare across runs.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** A context entry: text content, or a described node. */
export type ContextEntry =
  | string
  | {
    content?: string | Buffer;
    /** Permission bits (set after writing; directories too). */
    mode?: number;
    dir?: true;
    symlink?: string;
    /** Another context path this one is a hardlink of (created earlier in the map). */
    hardlink?: string;
    socket?: true;
    fifo?: true;
    xattrs?: Record<string, string>;
  };

/** Who gives the expected result. */
export type Oracle =
  /** docker build (BuildKit of docker 20.10) at test time. */
  | 'docker'
  /** BuildKit v0.24, recorded beforehand into fixtures/NAME.json (docker 20.10 is too old). */
  | 'buildkit-0.24';

export interface Recipe {
  /** Unique, kebab-case; names the fixture and the docker image. */
  name: string;
  /** The behaviour it checks (the recipe list). */
  checks: string;
  /** Where it comes from: `bk:FILE testName` (BuildKit's frontend tests), `docs: …`, `issue: …`, `own`. */
  source: string;
  dockerfile: string;
  files?: Record<string, ContextEntry>;
  /** `-f NAME` (inside the context). */
  dockerfileName?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /** `--secret id=ID,src=FILE` with FILE holding the value. */
  secrets?: Record<string, string>;
  /** Both builders must refuse it (kiln: a located one-line error, no stack trace). */
  fails?: boolean;
  /** For a failing recipe: what kiln's error must match (default: a `Dockerfile:LINE` location). */
  errorMatches?: RegExp;
  oracle?: Oracle;
  /** Where the BuildKits disagree and the newer is followed, or anything else a reader needs. */
  note?: string;
  /** Why the recipe must never reach docker 20.10 (its BuildKit panics on it and takes dockerd down). */
  crashesDocker?: string;
  /**
   * A build each builder makes just before the recipe, into the same cache: the recipe with
   * these fields replaced (one input of a step's meaning flipped). A cache key that leaves that
   * input out then reuses the primer's result, and the recipe's image differs from docker's.
   */
  primer?: Primer;
}

/** What a cache primer changes of its recipe. */
export type Primer = Partial<Pick<Recipe, 'dockerfile' | 'files' | 'buildArgs' | 'secrets'>>;

/** The primer of a recipe as a recipe of its own (named NAME-primer), if it has one. */
export function primerOf(recipe: Recipe): Recipe | undefined {
  return recipe.primer === undefined ? undefined : { ...recipe, ...recipe.primer, name: `${recipe.name}-primer` };
}

export interface Placeholders { BASE: string; NONCE: string; URL: string }

export function fill(text: string, p: Placeholders): string {
  return text.replaceAll('{BASE}', p.BASE).replaceAll('{NONCE}', p.NONCE).replaceAll('{URL}', p.URL);
}

/** Puts placeholders back into every string of a JSON-like value. */
export function unfill<T>(value: T, p: Placeholders): T {
  const back = (s: string): string => s.replaceAll(p.URL, '{URL}').replaceAll(p.NONCE, '{NONCE}').replaceAll(p.BASE, '{BASE}');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return back(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [back(k), walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * A unix socket file at `path`. Node unlinks a socket when its listener closes, so the listener
 * stays open (unreferenced: it never keeps the process alive) and the file goes with the context.
 */
async function makeSocket(path: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => resolve()); });
  server.unref();
}

/** Writes the recipe's context into `dir` (every mtime the same, so the two builders see one context). */
export async function writeContext(dir: string, recipe: Recipe, p: Placeholders): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, recipe.dockerfileName ?? 'Dockerfile'), fill(recipe.dockerfile, p));
  const when = new Date('2024-01-02T03:04:05Z');
  const dirs: { path: string; mode: number }[] = [];
  for (const [rel, entry] of Object.entries(recipe.files ?? {})) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof entry === 'string') { writeFileSync(path, fill(entry, p)); utimesSync(path, when, when); continue; }
    if (entry.dir) mkdirSync(path, { recursive: true });
    else if (entry.symlink !== undefined) { symlinkSync(entry.symlink, path); continue; }
    else if (entry.hardlink !== undefined) { linkSync(join(dir, entry.hardlink), path); continue; }
    else if (entry.socket) await makeSocket(path);
    else if (entry.fifo) execFileSync('mkfifo', [path]);
    else writeFileSync(path, typeof entry.content === 'string' ? fill(entry.content, p) : entry.content ?? '');
    for (const [k, v] of Object.entries(entry.xattrs ?? {})) execFileSync('setfattr', ['-n', k, '-v', v, path]);
    if (entry.mode !== undefined) {
      if (entry.dir) dirs.push({ path, mode: entry.mode });
      else chmodSync(path, entry.mode);
    }
    utimesSync(path, when, when);
  }
  // Directory modes last: a 0500 directory would refuse the files written into it.
  for (const d of dirs.reverse()) { chmodSync(d.path, d.mode); utimesSync(d.path, when, when); }
}
