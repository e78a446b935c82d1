/**
 * The scaling bench's results file: a partial run's points replace only themselves, and the chart
 * and the README's table are drawn from the merged file — so the committed results, chart and
 * table must agree (the last test holds the repository's three to it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measurementOf, mergeResults, readResults, serializeResults, writeResults, type Measurement, type ScaleResults } from '../../../bench/scaleResults.js';
import { renderResultsChart, renderTable, tableIn, TABLE_END, TABLE_START, withTable } from '../../../bench/scaleReport.js';
import { repoRoot } from '../../support/env.js';

function m(value: number, load: [number, number] = [1, 2], date = '2026-12-01T10:00Z'): Measurement {
  return { value, samples: [value], load, date };
}

const kept: ScaleResults = {
  'context/cold': {
    '1000': { kiln: m(500), docker: m(800) },
    '300000': { kiln: m(541_000, [10, 45]), docker: m(521_000, [10, 45]) },
  },
  'store/prune': { '1000': { kiln: m(996), docker: m(1130) } },
};

test('a partial run replaces its own points (curve, size, tool) and keeps every other', () => {
  const fresh: ScaleResults = {
    'context/cold': { '300000': { kiln: m(40_000, [1.5, 2.5], '2026-12-07T15:00Z'), docker: m(300_000, [1.5, 2.5], '2026-12-07T15:10Z') } },
    'store/prune': { '1000': { kiln: m(400, [2, 3], '2026-12-07T16:00Z') } },
    'bigfile/memory': { '104857600': { kiln: m(70) } },
  };
  const before = structuredClone(kept);
  const merged = mergeResults(kept, fresh);
  assert.deepEqual(kept, before, 'the kept results are not changed in place');
  assert.deepEqual(merged['context/cold']?.['1000'], kept['context/cold']?.['1000']);
  assert.equal(merged['context/cold']?.['300000']?.kiln?.value, 40_000);
  assert.deepEqual(merged['context/cold']?.['300000']?.docker?.load, [1.5, 2.5]);
  assert.equal(merged['store/prune']?.['1000']?.kiln?.value, 400);
  assert.equal(merged['store/prune']?.['1000']?.docker?.value, 1130, "a run of kiln alone keeps docker's figure");
  assert.equal(merged['bigfile/memory']?.['104857600']?.kiln?.value, 70);
});

test('a measurement is the median of its times (the largest of its peak memories), with the loads and the last time it was taken at', () => {
  const at = (min: number): Date => new Date(Date.UTC(2026, 11, 7, 15, min, 30));
  const samples = [{ value: 300, load: 2.5, at: at(1) }, { value: 100, load: 1.25, at: at(9) }, { value: 200, load: 4, at: at(5) }];
  assert.deepEqual(measurementOf('ms', samples), { value: 200, samples: [300, 100, 200], load: [1.3, 4], date: '2026-12-07T15:09Z' });
  assert.equal(measurementOf('MiB', samples).value, 300);
  assert.equal(measurementOf('ms', samples, 'fca46dd').code, 'fca46dd', "kiln's figure names the commit measured");
  assert.ok(!('code' in measurementOf('ms', samples)), 'a peer\'s has none');
});

test('the results file is written in one order, reads back the same, and names only curves the bench knows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-scale-results-'));
  try {
    const file = join(dir, 'scale-results.json');
    assert.deepEqual(readResults(file), {}, 'no file yet: no results');
    const shuffled: ScaleResults = { 'store/prune': kept['store/prune'] as ScaleResults[string], 'context/cold': { '300000': { docker: m(2), kiln: m(1) }, '1000': { kiln: m(3) } } };
    writeResults(file, shuffled);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.indexOf('context/cold') < text.indexOf('store/prune'));
    assert.ok(text.indexOf('"1000"') < text.indexOf('"300000"'));
    assert.ok(text.indexOf('"kiln": {"value":1') < text.indexOf('"docker": {"value":2'));
    assert.deepEqual(readResults(file), shuffled);
    assert.equal(serializeResults(readResults(file)), text);
    writeFileSync(file, JSON.stringify({ 'context/warm': {} }));
    assert.throws(() => readResults(file), /unknown curve context\/warm/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the table shows each point's kiln / docker, their ratio, the load and the time; only the series measured", () => {
  const table = renderTable(kept).split('\n');
  assert.equal(table[0], '| series | | |');
  assert.equal(table[2], '| **context files** | **1k** | **300k** |');
  assert.equal(table[3], '| cold: kiln / docker | 500 ms / 800 ms<br>0.63× · load 1.0–2.0 · 2026-12-01 10:00 | 541 s / 521 s<br>1.04× · load 10–45 · 2026-12-01 10:00 |');
  assert.equal(table[4], '| **images in the store (cache records ×10)** | **1k** | |');
  assert.match(table[5] as string, /^\| `prune` \(nothing to remove\): kiln \/ docker \| 996 ms \/ 1\.13 s<br>0\.88× · /);
  assert.equal(table.length, 6);
  const kilnAlone = renderTable(mergeResults(kept, { 'store/prune': { '1000': { kiln: m(400, [2, 3], '2026-12-07T16:00Z') } } }));
  assert.match(kilnAlone, /400 ms \/ 1\.13 s<br>0\.35× · load 1\.0–3\.0 · kiln 2026-12-07 16:00, docker 2026-12-01 10:00 \|/, 'figures of different runs say so');
});

test('the chart is drawn from the merged results: a re-measured point moves, the others stay', () => {
  const fresh: ScaleResults = { 'context/cold': { '300000': { kiln: m(40_000, [2, 2], '2026-12-07T15:00Z') } } };
  const before = renderResultsChart(kept);
  const after = renderResultsChart(mergeResults(kept, fresh));
  const circles = (svg: string): string[] => svg.match(/<circle [^>]*>/g) ?? [];
  assert.equal(circles(before).length, 6, 'one dot per tool and point');
  assert.equal(circles(after).length, 6);
  assert.notDeepEqual(circles(after), circles(before));
  assert.match(after, /2026-12-01 to 2026-12-07, at load average 1\.0–45/);
  assert.match(before, /<text [^>]*class="title">context, cold<\/text>/);
  assert.match(before, /store: prune \(nothing to remove\)/);
});

test('the README table is replaced between its markers only', () => {
  const readme = `intro\n${TABLE_START}\nold table\n${TABLE_END}\nafter\n`;
  const out = withTable(readme, '| new |');
  assert.equal(out, `intro\n${TABLE_START}\n| new |\n${TABLE_END}\nafter\n`);
  assert.equal(tableIn(out), '| new |');
  assert.throws(() => withTable('no markers', 'x'), /no scale table markers/);
});

test("the repository's README table and bench/scale.svg are bench/scale-results.json's, drawn again", () => {
  const results = readResults(join(repoRoot, 'bench', 'scale-results.json'));
  const hint = 'run `node dist/bench/run.js --scale --render` after editing the results';
  assert.equal(tableIn(readFileSync(join(repoRoot, 'README.md'), 'utf8')), renderTable(results), hint);
  assert.equal(readFileSync(join(repoRoot, 'bench', 'scale.svg'), 'utf8'), renderResultsChart(results), hint);
});
