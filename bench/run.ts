/**
 * `npm run bench`: the same recipes built by kiln and by the peers installed here, taking
 * turns (the disk's speed drifts, so no tool gets all the good minutes), several times
 * each; prints medians and kiln/peer ratios, with the goals against BuildKit.
 *
 *   node dist/bench/run.js [--reps N] [--slow-reps N] [--tools kiln,kiln-copy,docker,buildah,podman]
 *                          [--cases four,runs,files,run,startup,container,lifecycle,ports,parse,report] [--json FILE]
 *
 * `container`, `lifecycle`, `ports`, `parse` and `report` run the runtime's, the container
 * lifecycle's, the published ports', the parser's and the reports' own benchmarks
 * (bench/run-startup.ts, bench/lifecycle.ts, bench/port-throughput.ts, bench/parse.ts,
 * bench/report.ts) after the table.
 *
 *   node dist/bench/run.js --scale [options of bench/scale.ts]
 *
 * runs the scaling bench instead (bench/scale.ts): how each cost grows with its input.
 *
 *   node dist/bench/run.js --soak MINUTES [--workers N] [--kill-rate R]
 *
 * runs the store's soak instead (bench/soak.ts): random concurrent commands and kill -9s, then
 * kiln check, leaked mounts, cgroups and temp files, and docker loading every surviving image.
 *
 * buildah and podman take four times as long as kiln and docker on the multi-stage recipe;
 * they run --slow-reps times (default 1) so the whole bench stays within a few minutes.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kiln, kilnCopy, peers, type Builder } from './builders.js';
import { baseOnly, fourStages, haveBusybox, makeContext, manyFilesCopy, tenRuns, writeManyFiles, writeRootfsTar } from './fixtures.js';
import { formatMs, median, timeCommand } from './measure.js';
import { runScaleBench } from './scale.js';
import { runSoak } from './soak.js';

interface Options {
  reps: number;
  slowReps: number;
  tools: Set<string>;
  cases: Set<string>;
  json?: string;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { reps: 3, slowReps: 1, tools: new Set(['kiln', 'kiln-copy', 'docker', 'buildah', 'podman']), cases: new Set(['four', 'runs', 'files', 'run', 'startup', 'container', 'lifecycle', 'ports', 'parse', 'report']) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--reps' && v) (o.reps = Math.max(1, Number(v))), i++;
    else if (a === '--slow-reps' && v) (o.slowReps = Math.max(1, Number(v))), i++;
    else if (a === '--tools' && v) (o.tools = new Set(['kiln', ...v.split(',')])), i++;
    else if (a === '--cases' && v) (o.cases = new Set(v.split(','))), i++;
    else if (a === '--json' && v) (o.json = v), i++;
    else throw new Error(`unknown argument ${a} (see the comment at the top of bench/run.ts)`);
  }
  return o;
}

/** A row of results: per tool, the times of every successful repetition. */
interface Row {
  name: string;
  /** Goal for kiln/docker, when the issue sets one. */
  goal?: number;
  times: Map<string, number[]>;
  errors: Map<string, string>;
}

function row(name: string, goal?: number): Row {
  return { name, ...(goal !== undefined ? { goal } : {}), times: new Map(), errors: new Map() };
}

async function timed(r: Row, tool: Builder, argv: string[]): Promise<void> {
  if (r.errors.has(tool.name)) return;
  const t = await timeCommand(argv, tool.env);
  if (t.ok) r.times.set(tool.name, [...(r.times.get(tool.name) ?? []), t.ms]);
  else r.errors.set(tool.name, t.error ?? 'failed');
}

/**
 * Before each cold build: the dirty pages of the build before written out and a second's pause.
 * A daemon's build returns before its layers are on disk and goes on committing them, so the
 * tool timed right after paid for the other's writes (the 20,000-file COPY: kiln's cold build
 * 1.83 s after docker's, 0.95-1.4 s alone). Each tool still pays for its own writes and fsyncs.
 */
async function settleMachine(): Promise<void> {
  spawnSync('sync');
  await new Promise((r) => setTimeout(r, 1000));
}

/** Tools in a different order each repetition. */
function rotation<T>(items: T[], rep: number): T[] {
  const k = rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * A build benchmark: each repetition writes a fresh Dockerfile per tool (a nonce in it, so
 * the cold build really is cold, and buildah and podman — which share one storage — do not
 * reuse each other's layers), builds it cold with every tool in turn, then rebuilds it
 * unchanged with every tool in turn.
 */
const SLOW_TOOLS = new Set(['buildah', 'podman']);

/** Unchanged rebuilds timed per tool and repetition after the first (cheap, and noisier than a cold build). */
const NOOP_SAMPLES = 3;

/**
 * The first unchanged rebuild after a build that did work is timed apart (`first`): kiln's is
 * a full one, which records itself, and the later ones are answered from that record before the
 * build loads (README "Unchanged rebuilds"); docker's daemon answers each the same way.
 */
async function buildBench(all: Builder[], o: Options, ctx: string, tag: string, recipe: (nonce: string) => string, cold: Row, first: Row, noop: Row): Promise<void> {
  for (let rep = 0; rep < o.reps; rep++) {
    const tools = all.filter((t) => !SLOW_TOOLS.has(t.name) || rep < o.slowReps);
    const files = new Map<string, string>();
    for (const tool of tools) {
      const df = join(ctx, `Dockerfile.${tool.name}`);
      writeFileSync(df, recipe(`${tool.name}-${process.pid}-${Date.now()}-${rep}`));
      files.set(tool.name, df);
    }
    for (const tool of rotation(tools, rep)) {
      await settleMachine();
      await timed(cold, tool, tool.build(files.get(tool.name) as string, ctx, tag));
    }
    // A no-op rebuild takes a few hundred ms: right after a cold build, a daemon's own clean-up
    // (dockerd commits and prunes in the background) still loads the machine and slows whichever
    // tool runs next. So settle first, then take several samples per tool, taking turns.
    await new Promise((r) => setTimeout(r, 1000));
    for (const tool of rotation(tools, rep)) await timed(first, tool, tool.build(files.get(tool.name) as string, ctx, tag));
    for (let sample = 0; sample < NOOP_SAMPLES; sample++) {
      for (const tool of rotation(tools, rep + sample)) await timed(noop, tool, tool.build(files.get(tool.name) as string, ctx, tag));
    }
  }
}

function report(rows: Row[], toolNames: string[]): string {
  const peersNames = toolNames.filter((t) => t !== 'kiln');
  const header = ['benchmark', ...toolNames, ...peersNames.map((p) => `kiln/${p}`), 'goal vs docker'];
  const lines = [header];
  for (const r of rows) {
    const med = new Map(toolNames.map((t) => [t, median(r.times.get(t) ?? [])]));
    const k = med.get('kiln');
    const ratio = (p: string): number | undefined => {
      const m = med.get(p);
      return k !== undefined && m !== undefined && m > 0 ? k / m : undefined;
    };
    const d = ratio('docker');
    const goal = r.goal === undefined ? '' : `≤ ${r.goal.toFixed(2)}${d === undefined ? '' : d <= r.goal ? '  met' : '  NOT met'}`;
    lines.push([
      r.name,
      ...toolNames.map((t) => (r.errors.has(t) ? 'failed' : formatMs(med.get(t)))),
      ...peersNames.map((p) => (ratio(p) === undefined ? 'n/a' : (ratio(p) as number).toFixed(2))),
      goal,
    ]);
  }
  const widths = (header as string[]).map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => l.map((c, i) => c.padEnd((widths[i] as number) + 2)).join('').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const kilnBin = join(repoRoot, 'bin', 'kiln');
  if (!haveBusybox()) throw new Error('bench needs /bin/busybox (Debian package busybox-static) for its base image');
  const fixtures = join(tmpdir(), 'kiln-bench-fixtures');
  mkdirSync(fixtures, { recursive: true });
  const rootfs = writeRootfsTar(fixtures);
  const storeRoot = mkdtempSync(join(tmpdir(), 'kiln-bench-store-'));
  const tools = [kiln(kilnBin, storeRoot)];
  const copyStore = mkdtempSync(join(tmpdir(), 'kiln-bench-copy-store-'));
  if (o.tools.has('kiln-copy')) tools.push(kilnCopy(kilnBin, copyStore));
  const { found, missing } = peers(o.tools);
  tools.push(...found);
  const names = tools.map((t) => t.name);
  process.stderr.write(`bench: ${o.reps} repetitions (buildah, podman: ${Math.min(o.reps, o.slowReps)}); tools: ${names.join(', ')}${missing.length ? `; skipped: ${missing.join(', ')}` : ''}\n`);

  const rows: Row[] = [];
  try {
    // Every tool builds the base image once, untimed: later builds find `ADD rootfs.tar` cached.
    const baseCtx = makeContext(join(fixtures, 'base'), rootfs);
    writeFileSync(join(baseCtx, 'Dockerfile'), baseOnly());
    for (const t of tools) {
      const r = await timeCommand(t.build(join(baseCtx, 'Dockerfile'), baseCtx, 'kiln-bench-base'), t.env);
      if (!r.ok) process.stderr.write(`bench: ${t.name} cannot build the base image:\n${r.error}\n`);
    }
    if (o.cases.has('four')) {
      process.stderr.write('bench: 4 stages of sleep 2 …\n');
      const cold = row('four-stage cold (4× sleep 2 + COPY --from)', 0.7);
      const first = row('four-stage no-op rebuild, the first');
      const noop = row('four-stage no-op rebuild', 1.0);
      await buildBench(tools, o, makeContext(join(fixtures, 'four'), rootfs), 'kiln-bench-four', fourStages, cold, first, noop);
      rows.push(cold, first, noop);
    }
    if (o.cases.has('runs')) {
      process.stderr.write('bench: 10 RUN steps …\n');
      const cold = row('ten-RUN cold', 0.5);
      const first = row('ten-RUN no-op rebuild, the first');
      const noop = row('ten-RUN no-op rebuild', 0.6);
      await buildBench(tools, o, makeContext(join(fixtures, 'runs'), rootfs), 'kiln-bench-runs', tenRuns, cold, first, noop);
      rows.push(cold, first, noop);
    }
    if (o.cases.has('files')) {
      process.stderr.write('bench: 20,000-file context …\n');
      const ctx = makeContext(join(fixtures, 'files'), rootfs);
      writeManyFiles(ctx);
      const cold = row('20k-file COPY cold', 0.3);
      const first = row('20k-file COPY no-op rebuild, the first');
      const noop = row('20k-file COPY no-op rebuild', 0.35);
      // The slowest case: at most two repetitions, so the bench stays within minutes.
      await buildBench(tools, { ...o, reps: Math.min(o.reps, 2) }, ctx, 'kiln-bench-files', manyFilesCopy, cold, first, noop);
      rows.push(cold, first, noop);
    }
    if (o.cases.has('run')) {
      process.stderr.write('bench: run --rm IMAGE true …\n');
      const r = row('run --rm IMAGE true (default bridge network)', 0.25);
      const runners = tools.filter((t) => t.run);
      for (let rep = 0; rep < Math.max(5, o.reps); rep++) for (const t of rotation(runners, rep)) await timed(r, t, (t.run as (tag: string) => string[])('kiln-bench-base'));
      rows.push(r);
    }
    if (o.cases.has('startup')) {
      process.stderr.write('bench: CLI start-up …\n');
      const env = { ...process.env, KILN_ROOT: storeRoot };
      const self: Builder = { name: 'kiln', env, build: () => [] };
      const floor = row('start-up floor: node -e 0');
      // Node reads NODE_EXTRA_CA_CERTS's whole bundle at every start, before any code runs: show
      // what that costs on this machine (bin/kiln keeps node from paying it; see its header).
      const extraCerts = process.env.NODE_EXTRA_CA_CERTS !== undefined ? row('start-up floor without NODE_EXTRA_CA_CERTS') : undefined;
      const bareEnv: NodeJS.ProcessEnv = { ...env };
      delete bareEnv.NODE_EXTRA_CA_CERTS;
      const bare: Builder = { name: 'kiln', env: bareEnv, build: () => [] };
      const help = row('start-up: kiln --help');
      const df = row('start-up: kiln system df (opens the store)');
      for (let i = 0; i < 10; i++) {
        await timed(floor, self, [process.execPath, '-e', '0']);
        if (extraCerts) await timed(extraCerts, bare, [process.execPath, '-e', '0']);
        await timed(help, self, [kilnBin, '--help']);
        await timed(df, self, [kilnBin, 'system', 'df']);
      }
      rows.push(floor, ...(extraCerts ? [extraCerts] : []), help, df);
    }
  } finally {
    rmSync(storeRoot, { recursive: true, force: true });
    rmSync(copyStore, { recursive: true, force: true });
  }
  process.stdout.write(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (every figure scales with it; compare ratios)\n${report(rows, names)}\n`);
  for (const r of rows) for (const [tool, err] of r.errors) process.stdout.write(`\n${r.name} — ${tool} failed:\n${err}\n`);
  if (o.json) {
    const data = rows.map((r) => ({ name: r.name, goal: r.goal, medians: Object.fromEntries(names.map((t) => [t, median(r.times.get(t) ?? [])])), times: Object.fromEntries(r.times), errors: Object.fromEntries(r.errors) }));
    writeFileSync(o.json, JSON.stringify(data, null, 2));
  }
  const here = dirname(fileURLToPath(import.meta.url));
  for (const [name, script] of [['container', 'run-startup.js'], ['lifecycle', 'lifecycle.js'], ['ports', 'port-throughput.js'], ['parse', 'parse.js'], ['report', 'report.js']] as const) {
    if (!o.cases.has(name)) continue;
    process.stdout.write(`\n== ${script.replace('.js', '.ts')}\n`);
    spawnSync(process.execPath, [join(here, script), ...(name !== 'parse' ? ['--reps', String(Math.max(5, o.reps))] : [])], { stdio: 'inherit' });
  }
}

if (process.argv.includes('--scale')) await runScaleBench(process.argv.slice(2));
else if (process.argv.includes('--soak')) await runSoak(process.argv.slice(2));
else await main();
