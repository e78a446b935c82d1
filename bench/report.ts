/**
 * What the reports cost (part of `npm run bench`, or `node dist/bench/report.js [--reps N]`):
 * - a cold build of the four-stage recipe with `--report FILE.html` against the same build
 *   without it, paired: each repetition builds two fresh recipes, one each way, in turns
 *   (goal: the report adds under 5%);
 * - an unchanged rebuild with and without `--report`;
 * - `kiln image report -o FILE.html` of an image holding 20,000 files, and the time the page
 *   takes to draw in headless chromium, from navigation to its load event (goal: under 2 s).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fourStages, haveBusybox, makeContext, manyFilesCopy, baseOnly, writeManyFiles, writeRootfsTar } from './fixtures.js';
import { formatMs, median, timeCommand } from './measure.js';
import { kilnBin } from '../harness/kilnBinary.js';
import { haveChromium, TestBrowser } from '../harness/browser.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Math.max(1, Number(process.argv[at + 1])) : fallback;
}

async function must(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = await timeCommand(argv, env);
  if (!t.ok) throw new Error(t.error);
  return t.ms;
}

async function main(): Promise<void> {
  if (!haveBusybox()) throw new Error('the report bench needs /bin/busybox (Debian package busybox-static)');
  const reps = option('--reps', 5);
  const fixtures = join(tmpdir(), 'kiln-bench-fixtures');
  mkdirSync(fixtures, { recursive: true });
  const rootfs = writeRootfsTar(fixtures);
  const store = mkdtempSync(join(tmpdir(), 'kiln-bench-report-'));
  const env = { ...process.env, KILN_ROOT: store };
  const out = join(store, 'out');
  mkdirSync(out);
  const lines: string[] = [];
  try {
    const base = makeContext(join(fixtures, 'base'), rootfs);
    writeFileSync(join(base, 'Dockerfile'), baseOnly());
    await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-base', base], env);

    process.stderr.write(`bench: --report on a cold four-stage build, ${reps} pairs …\n`);
    const ctx = makeContext(join(fixtures, 'four'), rootfs);
    const plain: number[] = [];
    const reported: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const df = (how: string): string => {
        const file = join(ctx, `Dockerfile.report-${how}`);
        writeFileSync(file, fourStages(`report-${how}-${process.pid}-${Date.now()}-${rep}`));
        return file;
      };
      const without = async (): Promise<void> => { plain.push(await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-four', '-f', df('without'), ctx], env)); };
      const withReport = async (): Promise<void> => { reported.push(await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-four', '-f', df('with'), '--report', join(out, 'four.html'), ctx], env)); };
      if (rep % 2 === 0) { await without(); await withReport(); } else { await withReport(); await without(); }
    }
    const ratios = plain.map((p, i) => (reported[i] as number) / p);
    lines.push(`four-stage cold build: ${formatMs(median(plain))} without --report, ${formatMs(median(reported))} with --report FILE.html; paired ratio median ${(median(ratios) as number).toFixed(3)} (goal: under 1.05)`);

    const noop = { plain: [] as number[], reported: [] as number[] };
    const last = join(ctx, 'Dockerfile.report-with');
    for (let i = 0; i < 2 * reps; i++) {
      noop.plain.push(await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-four', '-f', last, ctx], env));
      noop.reported.push(await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-four', '-f', last, '--report', join(out, 'noop.html'), ctx], env));
    }
    lines.push(`four-stage unchanged rebuild: ${formatMs(median(noop.plain))} without --report, ${formatMs(median(noop.reported))} with it`);

    process.stderr.write('bench: image report of a 20,000-file image …\n');
    const files = makeContext(join(fixtures, 'files'), rootfs);
    writeManyFiles(files);
    const manyDf = join(files, 'Dockerfile.report');
    writeFileSync(manyDf, manyFilesCopy(`report-${process.pid}`));
    await must([kilnBin, 'build', '-q', '-t', 'kiln-bench-many', '-f', manyDf, files], env);
    const page = join(out, 'many.html');
    const writing: number[] = [];
    for (let i = 0; i < 3; i++) writing.push(await must([kilnBin, 'image', 'report', 'kiln-bench-many', '-o', page], env));
    lines.push(`kiln image report -o FILE.html of a 20,000-file image: ${formatMs(median(writing))}`);
    if (haveChromium) {
      const browser = await TestBrowser.launch();
      const loads: number[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          const opened = await browser.open(page);
          if (opened.errors.length > 0) throw new Error(`the page logged errors: ${opened.errors.join('; ')}`);
          loads.push(await opened.page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd));
          await opened.page.close();
        }
      } finally {
        await browser.close();
      }
      lines.push(`its page in headless chromium, navigation to load event (drawn): ${formatMs(median(loads))} (goal: under 2 s)`);
    } else {
      lines.push('its page in a browser: not measured (/usr/bin/chromium is missing: apt-get install chromium)');
    }
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
  process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n${lines.join('\n')}\n`);
}

await main();
