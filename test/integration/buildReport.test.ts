/**
 * `kiln build --report FILE.json` end to end: four stages side by side and one that copies from
 * each (the bench's recipe, shorter), a rebuild served from the cache, a build that fails with
 * its report written up to the failure (a Dockerfile that does not parse too), report names kiln refuses before building, and a
 * build without --report running none of the report's code (V8's coverage of the CLI bundle).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import Module, { SourceMap, type SourceMapPayload } from 'node:module';
import { join } from 'node:path';
import { groupBundleSourceMap } from '../../engine/cli/bundling/makeBundles.js';
import { BUNDLE_HEAD } from '../../engine/cli/bundling/bundleWrapper.js';
import { Store } from '../../engine/store/store.js';
import type { BuildReport, ReportStep } from '../../engine/report/buildReport.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

let work = '';
let store = '';
const BASE = `kiln-report-base-${process.pid}`;
const canRun = isRoot && haveBusybox;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-build-report-'));
  store = join(work, 'store');
  if (canRun) await commitBusyboxImage(await Store.open({ root: store }), BASE);
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

function fourStages(nonce: string): string {
  const stages = [1, 2, 3, 4].map((i) => `FROM ${BASE} AS s${i}\nRUN echo ${nonce}-${i} > /out${i} && sleep 1\n`).join('');
  return `${stages}FROM ${BASE}\n${[1, 2, 3, 4].map((i) => `COPY --from=s${i} /out${i} /out${i}\n`).join('')}`;
}

async function readReport(file: string): Promise<BuildReport> {
  return JSON.parse(await readFile(file, 'utf8')) as BuildReport;
}

const overlaps = (a: ReportStep, b: ReportStep): boolean => (a.started as number) < (b.finished as number) && (b.started as number) < (a.finished as number);

test('--report FILE.json: the stage graph, parallel RUN steps, cache verdicts, layers and totals', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'four');
  await writeFiles(ctx, { Dockerfile: fourStages(`n${Date.now()}`) });
  const file = join(work, 'four.json');
  await succeeds(runKiln(store, ['build', '-q', '-t', `kiln-report-four-${process.pid}`, '--report', file, ctx]));
  const r = await readReport(file);
  assert.equal(r.kind, 'kiln.build-report');
  assert.equal(r.outcome, 'succeeded');
  assert.equal(r.stages.length, 5);
  assert.equal(r.steps.length, 5 * 2 + 3);
  const runs = r.steps.filter((s) => s.instruction.startsWith('RUN'));
  assert.equal(runs.length, 4);
  for (const s of runs) {
    assert.equal(s.status, 'ran');
    assert.match(s.verdict ?? '', /^MISS: /);
    assert.equal(s.layers.length, 1);
    assert.ok((s.layers[0]?.size ?? 0) > 0);
    assert.ok(s.line !== undefined && s.line > 0);
  }
  // Independent stages ran side by side: every pair of RUN steps overlapped in time.
  for (let i = 0; i < runs.length; i++) for (let j = i + 1; j < runs.length; j++) assert.ok(overlaps(runs[i] as ReportStep, runs[j] as ReportStep), 'RUN steps did not overlap');
  const copies = r.steps.filter((s) => s.instruction.startsWith('COPY'));
  assert.equal(r.edges.filter((e) => e.kind === 'copy-from').length, 4);
  assert.ok(copies.every((c) => r.edges.some((e) => e.to === c.id && e.kind === 'copy-from')));
  assert.equal(r.edges.filter((e) => e.kind === 'base-image').length, 5);
  assert.ok(r.steps.some((s) => s.critical && s.instruction.startsWith('RUN')));
  const id = (await succeeds(runKiln(store, ['inspect', '--format', '{{.Id}}', `kiln-report-four-${process.pid}`]))).stdout.trim();
  assert.equal(r.totals.imageId, id);
  assert.ok((r.totals.imageSize ?? 0) > 0);
  assert.ok(r.totals.bytesWritten > 0);
  assert.equal(r.totals.ran + r.totals.cached, r.steps.length);

  // The same build again: everything that makes a layer is a cache hit, nothing is written.
  const again = join(work, 'four-again.json');
  await succeeds(runKiln(store, ['build', '-q', '-t', `kiln-report-four-${process.pid}`, '--report', again, ctx]));
  const r2 = await readReport(again);
  for (const s of r2.steps.filter((x) => x.position > 0)) {
    assert.equal(s.status, 'cached', s.instruction);
    assert.equal(s.verdict, 'HIT');
  }
  assert.equal(r2.totals.bytesWritten, 0);
  assert.equal(r2.totals.imageId, id);
});

test('a failed build writes its report up to the failure; steps never reached are skipped', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'fails');
  await writeFiles(ctx, {
    Dockerfile: `FROM ${BASE} AS ok\nRUN echo fine\nFROM ${BASE} AS broken\nRUN echo about to fail; exit 3\nRUN echo never\nFROM ${BASE}\nCOPY --from=ok /etc/passwd /p\nCOPY --from=broken /etc/group /g\n`,
  });
  const file = join(work, 'fails.json');
  const res = await runKiln(store, ['build', '--progress', 'plain', '--report', file, ctx]);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /report \(up to the failure\) written to/);
  const r = await readReport(file);
  assert.equal(r.outcome, 'failed');
  assert.match(r.error ?? '', /exit(ed)? (code )?3|3/);
  const failed = r.steps.filter((s) => s.status === 'failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0]?.line, 4);
  assert.match(failed[0]?.output ?? '', /about to fail/);
  const never = r.steps.find((s) => s.instruction === 'RUN echo never');
  assert.equal(never?.status, 'skipped');
  assert.equal(never?.line, 5);
  // The last stage began (its first COPY reads a stage that was done) but never copied from the broken one.
  assert.equal(r.steps.find((s) => s.instruction === 'COPY --from=broken /etc/group /g')?.status, 'skipped');
  assert.equal(r.totals.imageId, undefined);
});

test('a Dockerfile that does not parse still writes its report: no steps, the parse error with its line', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'unparsable');
  await writeFiles(ctx, { Dockerfile: `FROM ${BASE}\nRUN echo fine\nCOPY onlyone\n` });
  const file = join(work, 'unparsable.json');
  const res = await runKiln(store, ['build', '--progress', 'plain', '--report', file, ctx]);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /Dockerfile:3/);
  assert.doesNotMatch(res.stderr, /internal error|\n\s+at /);
  const r = await readReport(file);
  assert.equal(r.outcome, 'failed');
  assert.match(r.error ?? '', /Dockerfile:3:1: COPY requires at least two arguments/);
  assert.equal(r.steps.length, 0);
  assert.equal(r.stages.length, 0);
  assert.equal(r.totals.imageId, undefined);
});

test('a report name kiln cannot write is refused before the build starts', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'names');
  await writeFiles(ctx, { Dockerfile: `FROM ${BASE}\nRUN echo should-not-run > /x\n` });
  const bad = await runKiln(store, ['build', '--report', join(work, 'report.txt'), ctx]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--report .*report\.txt: the file name must end in \.html or \.json/);
  const missing = await runKiln(store, ['build', '--report', join(work, 'no', 'such', 'dir', 'r.html'), ctx]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /directory .*no\/such\/dir does not exist/);
  assert.doesNotMatch(bad.stderr + missing.stderr, /should-not-run|internal error/);
  await assert.rejects(stat(join(work, 'report.txt')));
});

/**
 * The source files whose functions a kiln run called, from V8's coverage of the build bundle
 * mapped back through that bundle's source map (the bundles are minified and ship without one:
 * makeBundles.ts makes the same text again with its map).
 */
async function modulesRun(args: string[]): Promise<string[]> {
  const coverage = await mkdtemp(join(work, 'coverage-'));
  await succeeds(runKiln(store, args, { env: { NODE_V8_COVERAGE: coverage } }));
  const shipped = await readFile(join(repoRoot, 'dist', 'bundle', 'kiln-build.cjs'), 'latin1');
  const { text, map } = await groupBundleSourceMap('build');
  assert.ok(shipped.startsWith(`${BUNDLE_HEAD}${text}`), 'the build bundle is not what makeBundles makes: run npm run build');
  const sources = new SourceMap(JSON.parse(map) as SourceMapPayload);
  // A bundle is written inside the CommonJS wrapper: coverage offsets count from its start.
  const prefixLength = BUNDLE_HEAD.length;
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const names = new Set<string>();
  for (const f of await readdir(coverage)) {
    const data = JSON.parse(await readFile(join(coverage, f), 'utf8')) as { result: { url: string; functions: { ranges: { startOffset: number; count: number }[] }[] }[] };
    for (const script of data.result) {
      if (!script.url.endsWith('/dist/bundle/kiln-build.cjs')) continue;
      for (const fn of script.functions) {
        const range = fn.ranges[0];
        if (range === undefined || range.count === 0) continue;
        const offset = range.startOffset - prefixLength;
        if (offset < 0 || offset >= text.length) continue; // the wrapper itself
        let line = lineStarts.length - 1;
        while ((lineStarts[line] as number) > offset) line--;
        const entry = sources.findEntry(line, offset - (lineStarts[line] as number)) as { originalSource?: string };
        const source = entry.originalSource?.replace(/^.*?\/(?=(engine|cache|grammar|native)\/)/, '');
        if (source !== undefined && /^(engine|cache|grammar|native)\/.*\.ts$/.test(source)) names.add(source);
      }
    }
  }
  return [...names];
}

test('without --report a build runs none of the report code, and the page and layout library are not in the CLI bundle', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'cost');
  await writeFiles(ctx, { Dockerfile: `FROM ${BASE}\nRUN echo cost > /c\n` });
  const tag = `kiln-report-cost-${process.pid}`;
  await succeeds(runKiln(store, ['build', '-q', '-t', tag, ctx]));
  const cached = await modulesRun(['build', '-q', '-t', tag, ctx]);
  assert.ok(cached.includes('engine/build.ts'), `coverage saw no build: ${cached.join(' ')}`);
  assert.deepEqual(cached.filter((m) => m.startsWith('engine/report/')), []);
  const reported = await modulesRun(['build', '-q', '-t', tag, '--report', join(work, 'cost.html'), ctx]);
  assert.ok(reported.includes('engine/report/buildRecorder.ts') && reported.includes('engine/report/reportFile.ts'), reported.join(' '));
  const bundle = await readFile(join(repoRoot, 'dist', 'bundle', 'kiln.cjs'), 'latin1');
  assert.doesNotMatch(bundle, /dagre|graphlib/);
  assert.ok((await stat(join(repoRoot, 'dist', 'bundle', 'report-pages', 'buildPage.js'))).size > 40_000);
});
