/**
 * `npm run bench -- --scale`: how kiln's cost grows as the work grows, beside docker (BuildKit)
 * in one run. Each point is the median of --reps repetitions, the tools taking turns:
 *
 *   context   files in the context (COPY of all of them), cold and no-op rebuild
 *   length    instructions in the Dockerfile, cold and no-op rebuild
 *   fanout    independent stages joined by COPY --from, cold
 *   bigfile   one file through COPY, save and load: time, and kiln's peak memory
 *   store     images in the store (N) and cache records (10 N): no-op rebuild, images, prune
 *
 *   node dist/bench/run.js --scale [--reps N] [--series context,length,…] [--sizes [SERIES=]1,4]…
 *                                  [--tools kiln,docker] [--quick] [--results FILE] [--svg FILE] [--readme FILE]
 *   node dist/bench/run.js --scale --render [--results FILE] [--svg FILE] [--readme FILE]
 *
 * --quick runs small sizes only, to check the bench itself. --sizes measures only the sizes it
 * lists (files, instructions, stages, images; MiB for bigfile), in every chosen series or, as
 * `--sizes length=10,100`, in the one it names (repeat it for others), so one point can be
 * measured again alone. Every run merges what it measured into the results file
 * (bench/scale-results.json; --quick only into one --results names): each point keeps its latest
 * measurement, kiln's and docker's, with the load average and the time it was taken
 * (bench/scaleResults.ts). Then the chart (bench/scale.svg, or --svg: logarithmic axes, a dashed
 * grey line of linear growth) and the README's table (between its scale table markers; or
 * --readme's) are drawn again from the whole merged file (bench/scaleReport.ts), so a partial run
 * updates its points in both; a results file other than the repository's draws no README table
 * unless --readme names one. --render draws them from the file without measuring.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kiln, peers, type Builder } from './builders.js';
import { baseOnly, haveBusybox, makeContext, manyFilesCopy, tenRuns, writeManyFiles, writeRootfsTar } from './fixtures.js';
import { timeCommand, timeCommandWithMemory } from './measure.js';
import { bigFileRecipe, fanOutRecipe, longRecipe, manyImagesArchive, writeBigFile } from './scaleFixtures.js';
import { renderResultsChart, renderTable, withTable } from './scaleReport.js';
import { curveSpec, measurementOf, mergeResults, readResults, SERIES, writeResults, type Sample, type ScaleResults, type SeriesName } from './scaleResults.js';

const MiB = 1024 * 1024;
const FULL_SIZES: Record<SeriesName, number[]> = {
  context: [1_000, 10_000, 100_000, 300_000],
  length: [10, 100, 1_000],
  fanout: [1, 4, 16, 64],
  bigfile: [100 * MiB, 1024 * MiB, 4096 * MiB],
  store: [1, 100, 1_000],
};
const QUICK_SIZES: Record<SeriesName, number[]> = {
  context: [1_000, 10_000],
  length: [10, 100],
  fanout: [1, 4],
  bigfile: [16 * MiB, 64 * MiB],
  store: [1, 100],
};

interface Options {
  reps: number;
  series: Set<SeriesName>;
  tools: Set<string>;
  quick: boolean;
  /** --sizes: for every chosen series ('*'), or for the one named. */
  sizes: Map<SeriesName | '*', number[]>;
  /** Where the measurements merge into (none: a --quick run without --results). */
  results?: string;
  svg?: string;
  readme?: string;
  /** --render: draw the chart and the table from the results file, measure nothing. */
  renderOnly: boolean;
}

/** `--sizes 100,1000` or `--sizes store=100,1000`: positive whole numbers, for one series or all. */
function parseSizes(v: string, into: Map<SeriesName | '*', number[]>): void {
  const eq = v.indexOf('=');
  const series = eq < 0 ? '*' : v.slice(0, eq);
  if (series !== '*' && !(SERIES as readonly string[]).includes(series)) throw new Error(`--sizes: unknown series ${series} (known: ${SERIES.join(', ')})`);
  const sizes = v.slice(eq + 1).split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--sizes takes positive whole numbers separated by commas, not ${v}`);
  into.set(series as SeriesName | '*', sizes);
}

function parseOptions(argv: string[], repoRoot: string): Options {
  const o: Options = { reps: 3, series: new Set(SERIES), tools: new Set(['kiln', 'docker']), quick: false, sizes: new Map(), renderOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--scale') continue;
    if (a === '--quick') o.quick = true;
    else if (a === '--render') o.renderOnly = true;
    else if (a === '--reps' && v) (o.reps = Math.max(1, Number(v))), i++;
    else if (a === '--tools' && v) (o.tools = new Set(['kiln', ...v.split(',')])), i++;
    else if (a === '--series' && v) {
      const wanted = v.split(',');
      const unknown = wanted.filter((s) => !(SERIES as readonly string[]).includes(s));
      if (unknown.length > 0) throw new Error(`unknown series ${unknown.join(', ')} (known: ${SERIES.join(', ')})`);
      o.series = new Set(wanted as SeriesName[]);
      i++;
    } else if (a === '--sizes' && v) parseSizes(v, o.sizes), i++;
    else if (a === '--results' && v) (o.results = resolve(v)), i++;
    else if (a === '--svg' && v) (o.svg = resolve(v)), i++;
    else if (a === '--readme' && v) (o.readme = resolve(v)), i++;
    else throw new Error(`unknown argument ${a} (see the comment at the top of bench/scale.ts)`);
  }
  const ownResults = join(repoRoot, 'bench', 'scale-results.json');
  if (o.results === undefined && !o.quick) o.results = ownResults;
  if (o.results !== undefined) {
    o.svg ??= join(dirname(o.results), 'scale.svg');
    // The README's table is drawn from the repository's own results (a unit test holds them equal):
    // another results file draws it only where --readme says.
    if (o.results === ownResults) o.readme ??= join(repoRoot, 'README.md');
  }
  return o;
}

/** The sizes each series runs at: the full set, --quick's, or the ones --sizes names. */
function sizesOf(o: Options): Record<SeriesName, number[]> {
  const base = o.quick ? QUICK_SIZES : FULL_SIZES;
  const pick = (series: SeriesName, scale = 1): number[] => {
    const chosen = o.sizes.get(series) ?? o.sizes.get('*');
    return chosen === undefined ? base[series] : chosen.map((n) => n * scale);
  };
  return { context: pick('context'), length: pick('length'), fanout: pick('fanout'), bigfile: pick('bigfile', MiB), store: pick('store') };
}

/** One measured quantity along a series (its id is the results file's, bench/scaleResults.ts): per tool, per size, the samples. */
class Curve {
  readonly samples = new Map<string, Map<number, Sample[]>>();
  readonly failures: string[] = [];
  constructor(readonly id: string) {
    curveSpec(id);
  }

  add(tool: string, size: number, value: number, load: number): void {
    const bySize = this.samples.get(tool) ?? new Map<number, Sample[]>();
    bySize.set(size, [...(bySize.get(size) ?? []), { value, load, at: new Date() }]);
    this.samples.set(tool, bySize);
  }

  /** What this run measured, as the results file holds it; kiln's figures name `kilnCode`, the commit measured. */
  results(kilnCode?: string): ScaleResults {
    const unit = curveSpec(this.id).unit;
    const sizes: ScaleResults[string] = {};
    for (const [tool, bySize] of this.samples) {
      for (const [size, samples] of bySize) (sizes[String(size)] ??= {})[tool] = measurementOf(unit, samples, tool === 'kiln' ? kilnCode : undefined);
    }
    return Object.keys(sizes).length > 0 ? { [this.id]: sizes } : {};
  }
}

/** The commit of the kiln checkout measured (`-dirty` with changes not committed); undefined outside a git checkout. */
function checkoutCommit(repoRoot: string): string | undefined {
  try {
    return execFileSync('git', ['-C', repoRoot, 'describe', '--always', '--dirty', '--abbrev=12'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average as a sample starts: recorded beside each figure. */
function loadNow(): number {
  return loadavg()[0] as number;
}

interface Context {
  o: Options;
  tools: Builder[];
  fixtures: string;
  rootfs: string;
  kilnBin: string;
  dockerTags: Set<string>;
}

const NOOP_SAMPLES = 3;

function nonce(tool: string, rep: number): string {
  return `${tool}-${process.pid}-${Date.now()}-${rep}`;
}

/** Times `argv` into `curve` at `size`; a failure is kept as a note and the point left out. */
async function sample(curve: Curve, tool: Builder, size: number, argv: string[]): Promise<boolean> {
  const load = loadNow();
  const t = await timeCommand(argv, tool.env, 3_600_000);
  if (t.ok) curve.add(tool.name, size, t.ms, load);
  else curve.failures.push(`${tool.name} at ${size}: ${t.error ?? 'failed'}`);
  return t.ok;
}

/** Tools with a store of their own for this series (kiln: a new store; docker: its daemon). */
async function toolsWithFreshStores(c: Context, label: string): Promise<{ tools: Builder[]; done: () => void }> {
  const root = mkdtempSync(join(tmpdir(), `kiln-scale-${label}-`));
  const tools = c.tools.map((t) => (t.name === 'kiln' ? kiln(c.kilnBin, root) : t));
  const baseCtx = makeContext(join(c.fixtures, 'base'), c.rootfs);
  writeFileSync(join(baseCtx, 'Dockerfile'), baseOnly());
  for (const t of tools) {
    const r = await timeCommand(t.build(join(baseCtx, 'Dockerfile'), baseCtx, `kiln-scale-base-${process.pid}`), t.env);
    if (!r.ok) throw new Error(`${t.name} cannot build the base image: ${r.error}`);
  }
  c.dockerTags.add(`kiln-scale-base-${process.pid}`);
  return { tools, done: () => rmSync(root, { recursive: true, force: true }) };
}

/** Cold build then no-op rebuilds of `recipe` at each size, every tool in turn. */
async function buildSeries(c: Context, label: string, sizes: number[], ctxFor: (size: number) => string, recipe: (size: number, nonce: string) => string, withNoop: boolean): Promise<Curve[]> {
  const cold = new Curve(`${label}/cold`);
  const noop = withNoop ? new Curve(`${label}/noop`) : undefined;
  const { tools, done } = await toolsWithFreshStores(c, label);
  try {
    for (const size of sizes) {
      const ctx = ctxFor(size);
      process.stderr.write(`bench: ${label} ${size} …\n`);
      for (let rep = 0; rep < c.o.reps; rep++) {
        const order = rep % 2 === 0 ? tools : [...tools].reverse();
        const files = new Map<string, string>();
        for (const t of order) {
          const df = join(ctx, `Dockerfile.scale.${t.name}`);
          writeFileSync(df, recipe(size, nonce(t.name, rep)));
          files.set(t.name, df);
        }
        const tag = `kiln-scale-${label}-${process.pid}`;
        c.dockerTags.add(tag);
        for (const t of order) await sample(cold, t, size, t.build(files.get(t.name) as string, ctx, tag));
        if (noop === undefined) continue;
        await new Promise((r) => setTimeout(r, 1000));
        for (let s = 0; s < NOOP_SAMPLES; s++) for (const t of s % 2 === 0 ? order : [...order].reverse()) await sample(noop, t, size, t.build(files.get(t.name) as string, ctx, tag));
      }
    }
  } finally {
    done();
  }
  return noop === undefined ? [cold] : [cold, noop];
}

async function contextSeries(c: Context, sizes: number[]): Promise<Curve[]> {
  return buildSeries(c, 'context', sizes, (n) => {
    const ctx = makeContext(join(c.fixtures, `scale-context-${n}`), c.rootfs);
    writeManyFiles(ctx, n);
    return ctx;
  }, (_n, id) => manyFilesCopy(id), true);
}

async function lengthSeries(c: Context, sizes: number[]): Promise<Curve[]> {
  const ctx = makeContext(join(c.fixtures, 'scale-length'), c.rootfs);
  return buildSeries(c, 'length', sizes, () => ctx, longRecipe, true);
}

async function fanOutSeries(c: Context, sizes: number[]): Promise<Curve[]> {
  const ctx = makeContext(join(c.fixtures, 'scale-fanout'), c.rootfs);
  return buildSeries(c, 'fanout', sizes, () => ctx, fanOutRecipe, false);
}

/**
 * COPY, save and load of one big file; kiln's peak memory for each. Both tools load kiln's
 * archive, whose layer neither has (kiln into an empty store; docker keeps the layers of its own
 * builds in its build cache, so loading its own archive would only register them).
 */
async function bigFileSeries(c: Context, sizes: number[]): Promise<Curve[]> {
  const copy = new Curve('bigfile/copy');
  const save = new Curve('bigfile/save');
  const load = new Curve('bigfile/load');
  const memory = new Curve('bigfile/memory');
  const { tools, done } = await toolsWithFreshStores(c, 'bigfile');
  const scratch = mkdtempSync(join(tmpdir(), 'kiln-scale-bigfile-out-'));
  const kilnTool = tools.find((t) => t.name === 'kiln') as Builder;
  const timedKiln = async (curve: Curve, size: number, argv: string[], env: NodeJS.ProcessEnv): Promise<boolean> => {
    const loadAtStart = loadNow();
    const r = await timeCommandWithMemory(argv, env, scratch);
    if (!r.ok) { curve.failures.push(`kiln at ${size}: ${r.error ?? 'failed'}`); return false; }
    curve.add('kiln', size, r.ms, loadAtStart);
    if (r.peakMiB !== undefined) memory.add('kiln', size, r.peakMiB, loadAtStart);
    return true;
  };
  try {
    for (const size of sizes) {
      const ctx = makeContext(join(c.fixtures, 'scale-bigfile'), c.rootfs);
      process.stderr.write(`bench: one file of ${Math.round(size / MiB)} MiB …\n`);
      writeBigFile(ctx, size);
      for (let rep = 0; rep < c.o.reps; rep++) {
        const tag = `kiln-scale-big-${process.pid}:${rep}`;
        const kilnArchive = join(scratch, 'kiln.tar');
        for (const t of rep % 2 === 0 ? tools : [...tools].reverse()) {
          const df = join(ctx, `Dockerfile.scale.${t.name}`);
          writeFileSync(df, bigFileRecipe(nonce(t.name, rep)));
          if (t.name === 'kiln') {
            if (await timedKiln(copy, size, t.build(df, ctx, tag), t.env)) await timedKiln(save, size, [c.kilnBin, 'save', '-o', kilnArchive, tag], t.env);
          } else {
            c.dockerTags.add(tag);
            const archive = join(scratch, 'docker.tar');
            if (await sample(copy, t, size, t.build(df, ctx, tag))) await sample(save, t, size, ['/usr/bin/docker', 'save', '-o', archive, tag]);
            rmSync(archive, { force: true });
          }
        }
        if (!existsSync(kilnArchive)) continue;
        for (const t of rep % 2 === 0 ? tools : [...tools].reverse()) {
          if (t.name === 'kiln') {
            const loadRoot = mkdtempSync(join(tmpdir(), 'kiln-scale-load-'));
            await timedKiln(load, size, [c.kilnBin, 'load', '-q', '-i', kilnArchive], { ...kilnTool.env, KILN_ROOT: loadRoot });
            rmSync(loadRoot, { recursive: true, force: true });
          } else {
            await sample(load, t, size, ['/usr/bin/docker', 'load', '-q', '-i', kilnArchive]);
          }
        }
        rmSync(kilnArchive, { force: true });
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    done();
  }
  return [copy, save, load, memory];
}

/** A store holding N images and 10 N cache records: how the everyday verbs cope. */
async function storeSeries(c: Context, sizes: number[]): Promise<Curve[]> {
  const noopCurve = new Curve('store/noop');
  const images = new Curve('store/images');
  const prune = new Curve('store/prune');
  const scratch = mkdtempSync(join(tmpdir(), 'kiln-scale-store-'));
  try {
    for (const n of sizes) {
      process.stderr.write(`bench: a store of ${n} images and ${10 * n} cache records …\n`);
      const { tools, done } = await toolsWithFreshStores(c, `store${n}`);
      try {
        const ctx = makeContext(join(c.fixtures, 'scale-store'), c.rootfs);
        const prefix = `kiln-scale-images-${process.pid}-${n}`;
        const archive = await manyImagesArchive(scratch, c.rootfs, prefix, n);
        for (let i = 0; i < n; i++) c.dockerTags.add(`${prefix}:${i}`);
        const tenRun = join(ctx, 'Dockerfile.tenruns');
        writeFileSync(tenRun, tenRuns(`store-${process.pid}`));
        for (const t of tools) {
          const load = t.name === 'kiln' ? [c.kilnBin, 'load', '-q', '-i', archive] : ['/usr/bin/docker', 'load', '-q', '-i', archive];
          const fill = await timeCommand(load, t.env);
          if (!fill.ok) throw new Error(`${t.name} cannot load ${n} images: ${fill.error}`);
          // Cache records: ENV-only builds of up to 1,000 steps each, 10 N steps in all.
          for (let made = 0; made < 10 * n; made += 1_000) {
            const df = join(ctx, `Dockerfile.records.${t.name}`);
            writeFileSync(df, longRecipe(Math.min(1_000, 10 * n - made), `records-${t.name}-${process.pid}-${made}`).replace(/^RUN .*$/gm, 'ENV R=1'));
            const r = await timeCommand(t.build(df, ctx, `kiln-scale-records-${process.pid}`), t.env, 3_600_000);
            if (!r.ok) throw new Error(`${t.name} cannot build the cache records: ${r.error}`);
          }
          c.dockerTags.add(`kiln-scale-records-${process.pid}`);
          const warm = await timeCommand(t.build(tenRun, ctx, `kiln-scale-tenruns-${process.pid}`), t.env);
          if (!warm.ok) throw new Error(`${t.name} cannot build the 10 RUN recipe: ${warm.error}`);
          c.dockerTags.add(`kiln-scale-tenruns-${process.pid}`);
        }
        for (let rep = 0; rep < c.o.reps * NOOP_SAMPLES; rep++) {
          for (const t of rep % 2 === 0 ? tools : [...tools].reverse()) {
            const docker = t.name !== 'kiln';
            await sample(noopCurve, t, n, t.build(tenRun, ctx, `kiln-scale-tenruns-${process.pid}`));
            await sample(images, t, n, docker ? ['/usr/bin/docker', 'images'] : [c.kilnBin, 'images']);
            // A prune that finds nothing old enough: both walk what they hold and keep it.
            await sample(prune, t, n, docker ? ['/usr/bin/docker', 'builder', 'prune', '-f', '--filter', 'until=87600h'] : [c.kilnBin, 'prune', '--filter', 'until=87600h']);
          }
        }
        rmSync(archive, { force: true });
      } finally {
        done();
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return [noopCurve, images, prune];
}

/** Removes the images this bench tagged in docker (and only those). */
function removeDockerTags(tags: Set<string>): void {
  const list = [...tags];
  for (let i = 0; i < list.length; i += 100) {
    try {
      execFileSync('/usr/bin/docker', ['rmi', '-f', ...list.slice(i, i + 100)], { stdio: 'ignore' });
    } catch {
      // some were never made (a failed build)
    }
  }
}

/** Draws the chart and the README's table from the whole results file. */
function render(o: Options, results: ScaleResults): void {
  if (o.svg !== undefined) {
    writeFileSync(o.svg, renderResultsChart(results));
    process.stdout.write(`chart: ${o.svg}\n`);
  }
  if (o.readme !== undefined && existsSync(o.readme)) {
    writeFileSync(o.readme, withTable(readFileSync(o.readme, 'utf8'), renderTable(results)));
    process.stdout.write(`table: ${o.readme}\n`);
  }
}

export async function runScaleBench(argv: string[]): Promise<void> {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const o = parseOptions(argv, repoRoot);
  if (o.renderOnly) {
    if (o.results === undefined) throw new Error('--render needs a results file (--results FILE)');
    render(o, readResults(o.results));
    return;
  }
  if (!haveBusybox()) throw new Error('the bench needs /bin/busybox (Debian package busybox-static) for its base image');
  const fixtures = join(tmpdir(), 'kiln-bench-fixtures');
  mkdirSync(fixtures, { recursive: true });
  const kilnBin = join(repoRoot, 'bin', 'kiln');
  const { found, missing } = peers(new Set([...o.tools].filter((t) => t === 'docker')));
  const c: Context = { o, tools: [kiln(kilnBin, ''), ...found], fixtures, rootfs: writeRootfsTar(fixtures), kilnBin, dockerTags: new Set() };
  const sizes = sizesOf(o);
  process.stderr.write(`bench --scale: ${o.reps} repetitions; tools: ${c.tools.map((t) => t.name).join(', ')}${missing.length ? `; skipped: ${missing.join(', ')}` : ''}\n`);
  const run: Record<SeriesName, (c: Context, sizes: number[]) => Promise<Curve[]>> = {
    context: contextSeries, length: lengthSeries, fanout: fanOutSeries, bigfile: bigFileSeries, store: storeSeries,
  };
  const curves: Curve[] = [];
  try {
    for (const series of SERIES) {
      if (!o.series.has(series)) continue;
      curves.push(...(await run[series](c, sizes[series])));
    }
  } finally {
    removeDockerTags(c.dockerTags);
  }
  const code = checkoutCommit(repoRoot);
  const fresh = curves.reduce<ScaleResults>((all, cv) => mergeResults(all, cv.results(code)), {});
  process.stdout.write(`\nmeasured in this run (kiln / docker, median of ${o.reps}):\n\n${renderTable(fresh)}\n\n`);
  for (const cv of curves) for (const f of cv.failures) process.stdout.write(`  failed: ${cv.id}: ${f}\n`);
  if (o.results === undefined) return;
  const merged = mergeResults(readResults(o.results), fresh);
  writeResults(o.results, merged);
  process.stdout.write(`results: ${o.results}\n`);
  render(o, merged);
}
