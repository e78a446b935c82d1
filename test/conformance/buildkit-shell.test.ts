/**
 * BuildKit's variable-expansion tables (shared folder): every `envVarTest` row through
 * ProcessWord (Windows-only rows skipped: kiln builds Linux images) and every `wordsTest`
 * row through ProcessWords. Titles carry the counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisite } from '../support/env.js';
import { corpus } from '../support/corpora.js';
import { ExpansionError, ShellWordExpander, envFrom } from '../../grammar/expand.js';

const shellCorpus = corpus('buildkit-shell');
const dir = shellCorpus.dir;
/** A table's lines; none when the corpus is missing (each test then says where it is expected). */
const tableLines = (name: string): string[] => (shellCorpus.present ? readFileSync(join(dir, name), 'utf8').split('\n') : []);
const lex = new ShellWordExpander('\\');

function attempt(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    assert.ok(e instanceof ExpansionError, `only ExpansionError may escape, got ${String(e)}`);
    return 'error';
  }
}

interface Row { input: string; expected: string; actual: string }

const envRows: Row[] = [];
let windowsOnly = 0;
{
  const env = envFrom({ PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' });
  for (const line of tableLines('envVarTest')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = line.split('|').map((f) => f.trim());
    assert.equal(fields.length, 3, `malformed row: ${line}`);
    const [platform, input, expected] = fields as [string, string, string];
    if (platform === 'W') { windowsOnly++; continue; }
    envRows.push({ input, expected, actual: attempt(() => lex.processWord(input, env)) });
  }
}
const envPassing = envRows.filter((r) => r.actual === r.expected).length;

test(`buildkit shell envVarTest: ${envPassing}/${envRows.length} rows (${windowsOnly} Windows-only skipped)`, (t) => {
  if (!prerequisite(t, shellCorpus.present, shellCorpus.missing)) return;
  assert.ok(envRows.length > 200);
  for (const r of envRows) assert.equal(r.actual, r.expected, `ProcessWord(${JSON.stringify(r.input)})`);
});

const wordRows: Row[] = [];
{
  const vars: Record<string, string> = {};
  for (const line of tableLines('wordsTest')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    if (line.startsWith('ENV ')) {
      const kv = line.slice(4);
      const eq = kv.indexOf('=');
      vars[kv.slice(0, eq)] = kv.slice(eq + 1);
      continue;
    }
    const fields = line.split('|');
    assert.equal(fields.length, 2, `malformed row: ${line}`);
    const input = (fields[0] as string).trim();
    const expected = (fields[1] as string).replace(/^ +/, '');
    wordRows.push({ input, expected, actual: attempt(() => lex.processWords(input, envFrom({ ...vars })).join(',')) });
  }
}
const wordsPassing = wordRows.filter((r) => r.actual === r.expected).length;

test(`buildkit shell wordsTest: ${wordsPassing}/${wordRows.length} rows`, (t) => {
  if (!prerequisite(t, shellCorpus.present, shellCorpus.missing)) return;
  assert.ok(wordRows.length > 20);
  for (const r of wordRows) assert.equal(r.actual, r.expected, `ProcessWords(${JSON.stringify(r.input)})`);
});
