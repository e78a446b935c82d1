/**
 * BuildKit's own parser corpus (read from the shared folder, never copied): every positive
 * case must dump byte for byte as BuildKit's `result`, every negative case must fail, and
 * the line-number case must give BuildKit's spans. Titles carry the counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { kilnBin, prerequisite } from '../support/env.js';
import { corpus as conformanceCorpus } from '../support/corpora.js';
import { parseDockerfile } from '../../grammar/parser.js';
import { dumpDockerfile } from '../../grammar/dump.js';
import { ParseError } from '../../grammar/parseError.js';

const parserCorpus = conformanceCorpus('buildkit-parser');
const corpus = parserCorpus.dir;
const cases = (dir: string): string[] => (parserCorpus.present ? readdirSync(join(corpus, dir)).sort() : []);

function dumpOf(file: string): string {
  try {
    return dumpDockerfile(parseDockerfile(readFileSync(file, 'utf8')));
  } catch (e) {
    return `ERROR: ${(e as Error).message}`;
  }
}

const positive = cases('testfiles').map((name) => {
  const dir = join(corpus, 'testfiles', name);
  const expected = readFileSync(join(dir, 'result'), 'utf8');
  return { name, expected, actual: dumpOf(join(dir, 'Dockerfile')) };
});
const positivePassing = positive.filter((c) => c.actual === c.expected).length;

test(`buildkit parser corpus: ${positivePassing}/${positive.length} positive`, (t) => {
  if (!prerequisite(t, parserCorpus.present, parserCorpus.missing)) return;
  assert.equal(positive.length, 33, 'the corpus has 33 positive cases');
  for (const c of positive) assert.equal(c.actual, c.expected, `case ${c.name}`);
});

const negative = cases('testfiles-negative').map((name) => {
  try {
    parseDockerfile(readFileSync(join(corpus, 'testfiles-negative', name, 'Dockerfile'), 'utf8'));
    return { name, error: undefined };
  } catch (e) {
    return { name, error: e };
  }
});
const negativeRejected = negative.filter((c) => c.error instanceof ParseError).length;

test(`buildkit parser corpus: ${negativeRejected}/${negative.length} negative rejected`, (t) => {
  if (!prerequisite(t, parserCorpus.present, parserCorpus.missing)) return;
  assert.equal(negative.length, 4);
  const messages = new Map(negative.map((c) => [c.name, (c.error as Error | undefined)?.message]));
  for (const c of negative) assert.ok(c.error instanceof ParseError, `case ${c.name} must fail with a ParseError`);
  assert.equal(messages.get('empty_dockerfile'), 'file with no instructions');
  assert.equal(messages.get('only_comments'), 'file with no instructions');
  assert.equal(messages.get('env_no_value'), 'ENV must have two arguments');
  assert.equal(messages.get('shykes-nested-json'), 'when using JSON array syntax, arrays must be comprised of strings only');
});

test('buildkit parser corpus: testfile-line spans [5,5] [11,12] [17,31]', (t) => {
  if (!prerequisite(t, parserCorpus.present, parserCorpus.missing)) return;
  const df = parseDockerfile(readFileSync(join(corpus, 'testfile-line', 'Dockerfile'), 'utf8'));
  assert.equal(df.range.start.line, 5);
  assert.equal(df.range.end.line, 31);
  assert.deepEqual(df.instructions.map((i) => [i.range.start.line, i.range.end.line]), [[5, 5], [11, 12], [17, 31]]);
});

test('kiln parse --dump over the whole positive corpus via the CLI', (t) => {
  if (!prerequisite(t, parserCorpus.present, parserCorpus.missing)) return;
  let same = 0;
  for (const c of positive) {
    const out = execFileSync(process.execPath, [kilnBin, 'parse', '--dump', join(corpus, 'testfiles', c.name, 'Dockerfile')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(out, c.expected, `kiln parse --dump ${c.name}`);
    same++;
  }
  assert.equal(same, 33);
});
