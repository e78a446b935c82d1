/**
 * Image efficiency and wasted bytes as dive computes them, on layer trees made by hand: paths
 * written twice, a deleted file (its whiteout counts 0), a deleted directory (its whiteout
 * counts the subtree when the layers below recorded it as a directory), opaque markers left
 * out; and the CI thresholds' parsing with dive's size units.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diveEfficiency, LayerTree } from '../../../../engine/report/diveEfficiency.js';
import { checkRules, parseRatio, parseSize } from '../../../../engine/report/ciRules.js';
import type { ImageReport } from '../../../../engine/report/imageReport.js';

function tree(entries: [string, number, boolean?][]): LayerTree {
  const t = new LayerTree();
  for (const [path, size, isDir] of entries) t.add(path, { size, isDir: isDir ?? false });
  return t;
}

test('a file rewritten in a later layer and a directory whose parents were only implied', () => {
  const r = diveEfficiency([
    tree([['/etc/nginx/nginx.conf', 2000], ['/etc/nginx/public', 3000]]),
    tree([['/etc/nginx/nginx.conf', 5000], ['/etc/athing', 10000]]),
    // /etc/nginx was never a directory entry, only implied: dive counts its whiteout as 0.
    tree([['/etc/.wh.nginx', 0]]),
  ]);
  assert.equal(r.efficiency, 0.75);
  assert.deepEqual(r.inefficient.map((p) => [p.path, p.layers, p.cumulative]), [['/etc/nginx/nginx.conf', [0, 1], 7000]]);
  assert.equal(r.wastedBytes, 7000);
});

test('a file deleted in the next layer wastes its size; a deleted directory counts its subtree once', () => {
  const r = diveEfficiency([
    tree([['/bin', 0, true], ['/bin/sh', 1000]]),
    tree([['/big', 4096], ['/cache', 0, true], ['/cache/a', 300], ['/cache/b', 200]]),
    tree([['/.wh.big', 0], ['/.wh.cache', 0], ['/new', 10]]),
  ]);
  assert.deepEqual(r.inefficient.map((p) => [p.path, p.cumulative]), [['/big', 4096]]);
  assert.equal(r.wastedBytes, 4096);
  // Σ minimum: sh 1000, big 0, cache/a 300, cache/b 200, cache (whiteout: subtree) 500, new 10.
  // Σ cumulative: 1000 + 4096 + 300 + 200 + 500 + 10.
  assert.equal(r.efficiency, 2010 / 6106);
});

test('opaque markers are not paths; an image with no sizes is fully efficient', () => {
  const r = diveEfficiency([tree([['/d', 0, true], ['/d/x', 0]]), tree([['/d/.wh..wh..opq', 0], ['/d/y', 0]])]);
  assert.equal(r.efficiency, 1);
  assert.equal(r.wastedBytes, 0);
  assert.ok(!r.inefficient.some((p) => p.path.includes('.wh.')));
});

test('thresholds: sizes in dive\'s units, ratios from 0 to 1, and the verdicts', () => {
  assert.equal(parseSize('20MB', '--max-wasted'), 20_000_000);
  assert.equal(parseSize('1MiB', '--max-wasted'), 1 << 20);
  assert.equal(parseSize('512 kB', '--max-wasted'), 512_000);
  assert.equal(parseSize('4096', '--max-wasted'), 4096);
  assert.throws(() => parseSize('lots', '--max-wasted'), /invalid value "lots" for --max-wasted/);
  assert.equal(parseRatio('0.9', '--min-efficiency'), 0.9);
  assert.throws(() => parseRatio('90', '--min-efficiency'), /expected a ratio from 0 to 1/);
  const report = { efficiency: 0.8, wastedBytes: 5000 } as ImageReport;
  assert.deepEqual(checkRules(report, { maxWasted: 4096, minEfficiency: 0.5 }).map((r) => [r.rule, r.result]), [['min-efficiency', 'pass'], ['max-wasted', 'fail']]);
  assert.deepEqual(checkRules(report, { maxWasted: 5000, minEfficiency: 0.9 }).map((r) => [r.rule, r.result]), [['min-efficiency', 'fail'], ['max-wasted', 'pass']]);
  assert.deepEqual(checkRules(report, {}), []);
});
