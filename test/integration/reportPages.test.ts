/**
 * kiln's report pages opened in a real headless browser (Debian's chromium), checked for what a
 * person sees: the build report's stage and step nodes, their cached/ran colours, timeline bars
 * of parallel stages side by side; the image report's wasted-space figure for an image built
 * to waste a known number of bytes; a 20,000-file image's report drawing (the time it takes is
 * printed, not asserted: timings here are noisy); no console error and no request, with the
 * network off. The same run takes the README's screenshots of both pages for the examples
 * (examples/screenshots/).
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import type { BuildReport } from '../../engine/report/buildReport.js';
import type { ImageReport } from '../../engine/report/imageReport.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { haveChromium, TestBrowser, type OpenedPage } from '../../harness/browser.js';
import { isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

let work = '';
let store = '';
let browser: TestBrowser | undefined;
const BASE = `kiln-pages-base-${process.pid}`;
const canRun = isRoot && haveBusybox && haveChromium;
const WHY = 'needs root, /bin/busybox (busybox-static) and /usr/bin/chromium (Debian package chromium)';
/**
 * The README's screenshots are committed: a run writes them to examples/screenshots/latest/
 * (ignored by git), so a test run leaves the checkout clean; KILN_UPDATE_SCREENSHOTS=1 (or a
 * checkout without them) writes the committed ones.
 */
const COMMITTED_SCREENSHOTS = join(repoRoot, 'examples', 'screenshots');
const SCREENSHOTS = process.env.KILN_UPDATE_SCREENSHOTS === '1' || !existsSync(join(COMMITTED_SCREENSHOTS, 'build-report.png'))
  ? COMMITTED_SCREENSHOTS : join(COMMITTED_SCREENSHOTS, 'latest');
/** Colours the page's stylesheet gives each status (report.css). */
const RAN = 'rgb(26, 127, 55)';
const CACHED = 'rgb(9, 105, 218)';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-report-pages-'));
  store = join(work, 'store');
  if (!canRun) return;
  await commitBusyboxImage(await Store.open({ root: store }), BASE);
  browser = await TestBrowser.launch();
});

after(async () => {
  await browser?.close();
  if (work !== '') await rm(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => succeeds(runKiln(store, args));

function assertQuiet(t: TestContext, opened: OpenedPage): void {
  assert.deepEqual(opened.errors, [], 'console errors');
  assert.deepEqual(opened.requests, [], 'the page asked the network for something');
  t.diagnostic(`loaded in ${opened.loadMs} ms`);
}

/** The report object a page carries (the JSON report's data, as the page drew it). */
async function embedded<T>(file: string): Promise<T> {
  const html = await readFile(file, 'utf8');
  const m = /<script type="application\/json" id="kiln-report">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'no report data in the page');
  return JSON.parse(m[1] as string) as T;
}

interface Box { left: number; right: number }

test('the build report page: stage and step nodes, cached and ran colours, parallel stages overlapping on the timeline', async (t) => {
  if (!prerequisite(t, canRun, WHY)) return;
  const ctx = join(work, 'four');
  const recipe = (n: string): string => `${[1, 2, 3, 4].map((i) => `FROM ${BASE} AS s${i}\nRUN echo ${n}-${i} > /out${i} && sleep 1\n`).join('')}FROM ${BASE}\n${[1, 2, 3, 4].map((i) => `COPY --from=s${i} /out${i} /out${i}\n`).join('')}`;
  const nonce = `a${Date.now()}`;
  await writeFiles(ctx, { Dockerfile: recipe(nonce) });
  const cold = join(work, 'four.html');
  await kiln(['build', '-q', '-t', `kiln-pages-four-${process.pid}`, '--report', cold, ctx]);
  const report = await embedded<BuildReport>(cold);
  const opened = await (browser as TestBrowser).open(cold);
  const { page } = opened;
  assertQuiet(t, opened);
  assert.equal(await page.$$eval('.stage-graph .stage-node', (n) => n.length), 5);
  assert.equal(await page.$$eval('.stage-graph .step-node', (n) => n.length), 13);
  assert.equal(await page.$$eval('.stage-graph .source-node', (n) => n.length), 1);
  assert.equal(await page.$$eval('.stage-graph .edge-copy-from', (n) => n.length), 4);
  const colours = await page.$$eval('.stage-graph .step-node', (nodes) => nodes.map((n) => [(n as HTMLElement).dataset.status, getComputedStyle(n.querySelector('.step-status-bar') as Element).fill]));
  assert.ok(colours.every(([status, fill]) => status === 'ran' && fill === RAN), JSON.stringify(colours));
  // The four RUN steps ran side by side: their bars overlap on the timeline.
  const runIds = report.steps.filter((s) => s.instruction.startsWith('RUN')).map((s) => s.id);
  const bars = await page.$$eval('.timeline-row', (rows, ids) => rows
    .filter((r) => (ids as string[]).includes((r as HTMLElement).dataset.step as string))
    .map((r) => { const b = (r.querySelector('.bar') as Element).getBoundingClientRect(); return { left: b.left, right: b.right }; }), runIds);
  assert.equal(bars.length, 4);
  const overlap = (a: Box, b: Box): boolean => a.left < b.right && b.left < a.right;
  for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) assert.ok(overlap(bars[i] as Box, bars[j] as Box), `bars ${i} and ${j} do not overlap: ${JSON.stringify(bars)}`);
  assert.ok(await page.$$eval('.timeline-row.critical', (n) => n.length) >= 2);
  // A node leads to its step's details.
  await page.click(`.step-node[data-step="${runIds[0]}"]`);
  assert.equal(await page.$eval(`details[data-step="${runIds[0]}"]`, (d) => (d as HTMLDetailsElement).open), true);
  await page.close();

  // One stage changed: the rest comes from the cache, and the page tells the two apart.
  await writeFiles(ctx, { Dockerfile: recipe(nonce).replace(/(RUN echo [^\n]*-4 > \/out4)/, '$1 && echo changed') });
  const warm = join(work, 'four-warm.html');
  await kiln(['build', '-q', '-t', `kiln-pages-four-${process.pid}`, '--report', warm, ctx]);
  const second = await (browser as TestBrowser).open(warm);
  assertQuiet(t, second);
  const statuses = await second.page.$$eval('.stage-graph .step-node', (nodes) => nodes.map((n) => [(n as HTMLElement).dataset.status, getComputedStyle(n.querySelector('.step-status-bar') as Element).fill, n.textContent ?? '']));
  const cached = statuses.filter(([s]) => s === 'cached');
  const ran = statuses.filter(([s]) => s === 'ran');
  assert.ok(cached.length >= 3 && cached.every(([, fill]) => fill === CACHED), JSON.stringify(statuses));
  assert.ok(ran.some(([, fill, text]) => fill === RAN && (text as string).includes('changed')), JSON.stringify(statuses));
  assert.match(await second.page.$eval('[data-figure="cache-hits"]', (e) => e.textContent ?? ''), /^[0-9]+ \/ 13/);
  await second.page.close();
});

test('the image report page: the wasted space of a file written in one layer and deleted in the next', async (t) => {
  if (!prerequisite(t, canRun, WHY)) return;
  const WASTE = 123_456;
  const ctx = join(work, 'waste');
  await writeFiles(ctx, { Dockerfile: `FROM ${BASE}\nRUN head -c ${WASTE} /dev/zero > /waste\nRUN rm /waste\n` });
  const tag = `kiln-pages-waste-${process.pid}`;
  await kiln(['build', '-q', '-t', tag, ctx]);
  const file = join(work, 'waste.html');
  const summary = await kiln(['image', 'report', tag, '-o', file]);
  assert.match(summary.stdout, new RegExp(`wastedBytes: ${WASTE} bytes`));
  const opened = await (browser as TestBrowser).open(file);
  const { page } = opened;
  assertQuiet(t, opened);
  assert.equal(await page.$eval('[data-figure="wasted"]', (e) => (e as HTMLElement).dataset.value), String(WASTE));
  assert.match(await page.$eval('[data-figure="wasted"] .figure-value', (e) => e.textContent ?? ''), /^123 kB$/);
  assert.equal(await page.$$eval('tr.layer', (n) => n.length), 3);
  assert.equal(await page.$eval('tr.layer[data-layer="1"] [data-wasted-later]', (e) => (e as HTMLElement).dataset.wastedLater), String(WASTE));
  assert.equal(await page.$$eval('table.wasted tr[data-path="/waste"]', (n) => n.length), 1);
  // Browsing: layer 1 adds the file, layer 2 removes it.
  await page.click('tr.layer[data-layer="1"]');
  assert.equal(await page.$eval('.tree li[data-path="waste"] .row', (e) => (e as HTMLElement).dataset.change), 'a');
  await page.click('tr.layer[data-layer="2"]');
  assert.equal(await page.$eval('.tree li[data-path="waste"] .row', (e) => (e as HTMLElement).dataset.change), 'r');
  await page.close();

  // The same figures in the JSON report, and dive's CI thresholds.
  const json = join(work, 'waste.json');
  await kiln(['image', 'report', tag, '-o', json]);
  const report = JSON.parse(await readFile(json, 'utf8')) as ImageReport;
  assert.equal(report.wastedBytes, WASTE);
  assert.deepEqual(report.inefficiencies.filter((i) => i.bytes > 0).map((i) => [i.path, i.layers]), [['/waste', [1, 2]]]);
  const over = await runKiln(store, ['image', 'report', tag, '--max-wasted', '100kB']);
  assert.equal(over.code, 1);
  assert.match(over.stdout, /FAIL: max-wasted/);
  await kiln(['image', 'report', tag, '--max-wasted', '124kB', '--min-efficiency', '0']);
  const low = await runKiln(store, ['image', 'report', tag, '--min-efficiency', '1']);
  assert.equal(low.code, 1);
  assert.match(low.stdout, /FAIL: min-efficiency: image efficiency is too low/);
});

test('the image report of a 20,000-file image draws, and its directories open', async (t) => {
  if (!prerequisite(t, canRun, WHY)) return;
  const ctx = join(work, 'many');
  await mkdir(join(ctx, 'files'), { recursive: true });
  for (let d = 0; d < 100; d++) {
    await mkdir(join(ctx, 'files', `d${d}`));
    await Promise.all(Array.from({ length: 200 }, (_, i) => writeFile(join(ctx, 'files', `d${d}`, `f${d * 200 + i}.txt`), `file ${d * 200 + i}\n`)));
  }
  await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nCOPY files /files/\n`);
  const tag = `kiln-pages-many-${process.pid}`;
  await kiln(['build', '-q', '-t', tag, ctx]);
  const file = join(work, 'many.html');
  await kiln(['image', 'report', tag, '-o', file]);
  const opened = await (browser as TestBrowser).open(file);
  const { page } = opened;
  assertQuiet(t, opened);
  const drawn = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd);
  t.diagnostic(`20,000-file image report: load event ${Math.round(drawn)} ms after navigation (goal: under 2 s)`);
  await page.click('tr.layer[data-layer="1"]');
  await page.click('.tree li[data-path="files"] > .row');
  assert.equal(await page.$$eval('.tree li[data-path="files"] > ul > li', (n) => n.length), 100);
  await page.click('.tree li[data-path="files/d7"] > .row');
  assert.equal(await page.$$eval('.tree li[data-path="files/d7"] > ul > li', (n) => n.length), 200);
  // Every path the two layers add: the base's, and files/ with its 100 directories and 20,000 files.
  const layers = (await embedded<ImageReport>(file)).layers;
  assert.equal(layers[1]?.entries.length, 1 + 100 + 20_000);
  assert.equal(await page.$eval('[data-figure="files"] .figure-value', (e) => e.textContent), String((layers[0]?.entries.length ?? 0) + 20_101));
  await page.close();
});

test('screenshots of both pages for the README\'s examples', async (t) => {
  if (!prerequisite(t, canRun, WHY)) return;
  execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
  // Run from the checkout with the README's relative paths, as a user would (the page shows them).
  const asUser = (args: string[]) => succeeds(runKiln(store, args, { cwd: repoRoot }));
  await asUser(['build', '-q', '-t', 'kiln-busybox', 'examples/busybox']);
  await asUser(['build', '-q', '-t', 'kiln-multistage', 'examples/multistage']);
  // A rebuild with another greeting: the cached steps and the ones the change reaches, with --explain's reason.
  const buildPage = join(work, 'multistage-build.html');
  await asUser(['build', '-q', '-t', 'kiln-multistage', '--build-arg', 'GREETING=bonjour', '--report', buildPage, 'examples/multistage']);
  const imagePage = join(work, 'multistage-image.html');
  await asUser(['image', 'report', 'kiln-multistage', '-o', imagePage]);
  await mkdir(SCREENSHOTS, { recursive: true });
  for (const [file, png] of [[buildPage, 'build-report.png'], [imagePage, 'image-report.png']] as const) {
    const opened = await (browser as TestBrowser).open(file, { width: 1280, height: 800 });
    assertQuiet(t, opened);
    if (png === 'build-report.png') {
      assert.ok(await opened.page.$$eval('.step-node[data-status="cached"]', (n) => n.length) > 0);
      const verdicts = await opened.page.$$eval('details.step.status-ran .verdict', (n) => n.map((e) => e.textContent ?? ''));
      assert.ok(verdicts.some((v) => /^MISS: .*GREETING/.test(v)), JSON.stringify(verdicts));
    }
    if (png === 'image-report.png') {
      // The layer the recipe adds, opened down to the file it copies.
      await opened.page.click('tr.layer[data-layer="1"]');
      await opened.page.click('.tree li[data-path="home"] > .row');
      await opened.page.click('.tree li[data-path="home/app"] > .row');
      assert.equal(await opened.page.$eval('.tree li[data-path="home/app/message.txt"] .row', (e) => (e as HTMLElement).dataset.change), 'a');
    }
    await opened.page.screenshot({ path: join(SCREENSHOTS, png), fullPage: true });
    await opened.page.close();
  }
});
