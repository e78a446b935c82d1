import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreMatcher, ignoreFileProblem, parseIgnoreFile } from '../../../../engine/context/dockerignore.js';

const m = (text: string) => new IgnoreMatcher(parseIgnoreFile(text));

test('ignore file: comments only at column 0, trimming, cleaning, leading slash dropped', () => {
  assert.deepEqual(parseIgnoreFile('\uFEFF# c\n  foo/  \n\n/bar\n ! baz\n #notcomment\n./a/../b'), ['foo', 'bar', '!baz', '#notcomment', 'b']);
});

test('patterns are anchored at the context root', () => {
  const ig = m('foo\n*.md');
  assert.equal(ig.excludes('foo'), true);
  assert.equal(ig.excludes('a/foo'), false);
  assert.equal(ig.excludes('README.md'), true);
  assert.equal(ig.excludes('docs/README.md'), false);
});

test('a parent directory match excludes everything below it', () => {
  const ig = m('node_modules');
  assert.equal(ig.excludes('node_modules/x/y.js'), true);
  assert.equal(ig.excludes('src/node_modules'), false);
});

test('** matches any number of segments, including none', () => {
  const ig = m('**/*.log\nbuild/**');
  assert.equal(ig.excludes('a.log'), true);
  assert.equal(ig.excludes('x/y/z.log'), true);
  assert.equal(ig.excludes('build/out/bin'), true);
  assert.equal(ig.excludes('builder'), false);
});

test('! exceptions and last match wins', () => {
  const ig = m('*.md\n!README.md\nREADME*');
  assert.equal(ig.excludes('CHANGES.md'), true);
  assert.equal(ig.excludes('README.md'), true, 'the later README* excludes it again');
  const ig2 = m('docs\n!docs/keep.txt');
  assert.equal(ig2.excludes('docs/drop.txt'), true);
  assert.equal(ig2.excludes('docs/keep.txt'), false);
  assert.equal(ig2.hasExceptions, true);
});

test('? and character classes stay within a segment; escapes are literal', () => {
  const ig = m('a?c\n[xy].txt\nlit\\*');
  assert.equal(ig.excludes('abc'), true);
  assert.equal(ig.excludes('a/c'), false);
  assert.equal(ig.excludes('x.txt'), true);
  assert.equal(ig.excludes('z.txt'), false);
  assert.equal(ig.excludes('lit*'), true);
  assert.equal(ig.excludes('litx'), false);
});

test('a lone ! is an error', () => {
  assert.throws(() => new IgnoreMatcher(['!']), /illegal exclusion pattern/);
});

test('the first pattern BuildKit refuses is found with its line (for a located error, not a crash)', () => {
  assert.deepEqual(ignoreFileProblem('# c\nlogs\n\n!\n'), { line: 4, message: 'illegal exclusion pattern: "!"' });
  assert.equal(ignoreFileProblem('a\n[b\n')?.line, 2);
  assert.equal(ignoreFileProblem('a\n!b\n**/*.tmp\n'), undefined);
});
