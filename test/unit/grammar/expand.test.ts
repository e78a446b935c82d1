/**
 * Shell-word expansion beyond the shared tables: the glob modifiers (# ## % %% / //),
 * which variables a word used (matched/unmatched, for the build cache and ARG-usage
 * checks), errors for bad substitutions, and the lexer options the parser relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpansionError, ShellWordExpander, envFrom, expandWord, expandWordWithMatches, expandWords } from '../../../grammar/expand.js';

interface Case { input: string; env: Record<string, string>; expected?: string; error?: true; matched?: string[]; unmatched?: string[] }

const cases: Case[] = [
  { input: 'x ${UNUSED}', env: {}, expected: 'x ', unmatched: ['UNUSED'] },
  { input: '${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx  ccc', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx bbb ccc', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'aaa bbb ', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'aaa  ', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${BAR?bbb}', env: { BAR: '' }, expected: '', matched: ['BAR'] },
  { input: '${BAZ?ccc}', env: {}, error: true },
  { input: '${BAR:?bbb}', env: { BAR: '' }, error: true },
  { input: '${FOO=aaa}', env: { FOO: 'xxx' }, error: true },
  { input: '${FOO#()[]{\\}^$.\\*\\?|\\\\}', env: { FOO: '()[]{}^$.*?|\\x' }, expected: 'x', matched: ['FOO'] },
  { input: '${FOO%%\\**}', env: { FOO: 'xx**' }, expected: 'xx' },
  { input: '${FOO#*x*y}', env: { FOO: 'xxyy' }, expected: 'y' },
  { input: '${FOO#*}', env: { FOO: 'xxyy' }, expected: 'xxyy' },
  { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: 'x' }, expected: 'xyy', matched: ['FOO', 'BAR'] },
  { input: '${FOO##*x}', env: { FOO: 'xxyy' }, expected: 'yy' },
  { input: '${FOO#?\\?}', env: { FOO: '???y' }, expected: '?y' },
  { input: '${ABC:-.}${FOO%x}${ABC:-.}', env: { FOO: 'xxyy' }, expected: '.xxyy.', matched: ['FOO'], unmatched: ['ABC'] },
  { input: '${FOO%%\\**\\*}', env: { FOO: 'a***yy*' }, expected: 'a' },
  { input: '${FOO%y}', env: { FOO: 'xxyy' }, expected: 'xxy' },
  { input: '${FOO%%y*}', env: { FOO: 'xyxy' }, expected: 'x' },
  { input: '${FOO:#}', env: {}, error: true },
  { input: '${FOO:%%}', env: {}, error: true },
  { input: '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', env: { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, expected: '/foo.*/*.txt - /foo..*.txt' },
  { input: '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', env: { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, expected: '/tmp/bar.txt - /bar.txt' },
  { input: '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}', env: { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' }, expected: '/foo/b/c.txt - /foo/c.txt' },
  { input: '${FOO//\\//\\/}', env: { FOO: '/tmp/foo.txt' }, expected: '\\/tmp\\/foo.txt' },
  { input: '${FOO/$BAR/ww}', env: { FOO: 'xxyy', BAR: '' }, expected: 'wwxxyy' },
  { input: '${FOO//ww}', env: { FOO: 'xxyy' }, error: true },
  { input: '${FOO///}', env: { FOO: 'xxyy' }, expected: 'xxyy' },
  { input: '${FOO#a\\b}', env: { FOO: 'ab' }, error: true },
  { input: '${}', env: {}, error: true },
  { input: '${a', env: {}, error: true },
  { input: '${a:-b', env: {}, error: true },
  { input: '${a:x}', env: {}, error: true },
];

test(`expansion modifiers and match tracking: ${cases.length} cases`, () => {
  for (const c of cases) {
    if (c.error) {
      assert.throws(() => expandWordWithMatches(c.input, envFrom(c.env)), ExpansionError, c.input);
      continue;
    }
    const r = expandWordWithMatches(c.input, envFrom(c.env));
    assert.equal(r.result, c.expected, c.input);
    if (c.matched) assert.deepEqual([...r.matched].sort(), [...c.matched].sort(), `matched of ${c.input}`);
    if (c.unmatched) assert.deepEqual([...r.unmatched].sort(), [...c.unmatched].sort(), `unmatched of ${c.input}`);
  }
});

test('expansion errors carry BuildKit messages', () => {
  assert.throws(() => expandWord('${x:?must be set}', envFrom({})), { message: 'failed to process "${x:?must be set}": x: must be set' });
  assert.throws(() => expandWord('${x:?}', envFrom({ x: '' })), { message: 'failed to process "${x:?}": x: is not allowed to be empty' });
  assert.throws(() => expandWord('${x?}', envFrom({})), { message: 'failed to process "${x?}": x: is not allowed to be unset' });
  assert.throws(() => expandWord('${}', envFrom({})), /bad substitution/);
  assert.throws(() => expandWord('${', envFrom({})), /missing '}'/);
  assert.throws(() => expandWord('${x', envFrom({})), /unsupported modifier \(\ufffd\) in substitution/);
  assert.throws(() => expandWord('${x:#y}', envFrom({})), /unsupported modifier \(:#\) in substitution/);
  assert.throws(() => expandWord('"abc', envFrom({})), /matching double-quote/);
});

test('word splitting happens after expansion, quoted values stay whole', () => {
  const env = envFrom({ A: 'one two', E: '' });
  assert.deepEqual(expandWords('x $A "$A" y', env), ['x', 'one', 'two', 'one two', 'y']);
  assert.deepEqual(expandWords('$E', env), []);
  assert.deepEqual(expandWords('a\\ b', env), ['a b']);
});

test('backtick escape token and the parser-facing lexer options', () => {
  assert.equal(expandWord('a`$b', envFrom({ b: 'x' }), '`'), 'a$b');
  assert.equal(expandWord('a\\$b', envFrom({ b: 'x' }), '`'), 'a\\x');
  const raw = new ShellWordExpander('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  assert.deepEqual(raw.processWords('echo "a b" \\x $UNSET ${U:-d}', () => undefined), ['echo', '"a b"', '\\x', '$UNSET', '${U:-d}']);
  const heredocBody = new ShellWordExpander('\\', { skipProcessQuotes: true });
  assert.equal(heredocBody.processWord('say "$X" \'$X\'', envFrom({ X: 'hi' })), 'say "hi" \'hi\'');
});
