/**
 * The parser on the details BuildKit's corpus does not pin down: BOM, CRLF, the escape
 * directive, continuation lines with comments and empty lines, comments before an
 * instruction, directive scanning rules, JSON fallback, per-instruction argument shapes,
 * flags, ONBUILD, unknown instructions, source ranges and error positions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../grammar/parser.js';
import { dumpDockerfile } from '../../../grammar/dump.js';
import { ParseError } from '../../../grammar/parseError.js';
import { goQuote } from '../../../grammar/goText.js';

const dump = (text: string): string => dumpDockerfile(parseDockerfile(text));

function rejects(text: string, message: RegExp | string, line?: number): ParseError {
  let err: unknown;
  try { parseDockerfile(text); } catch (e) { err = e; }
  assert.ok(err instanceof ParseError, `expected a ParseError for ${JSON.stringify(text)}, got ${String(err)}`);
  if (typeof message === 'string') assert.equal(err.message, message);
  else assert.match(err.message, message);
  if (line !== undefined) assert.equal(err.line, line, `line of ${JSON.stringify(text)}`);
  return err;
}

test('BOM, CRLF and keyword case', () => {
  assert.equal(dump('\ufeffFROM a\r\nrun echo hi\r\n'), '(from "a")\n(run "echo hi")\n');
  assert.equal(dump('FROM a\r\nRUN a \\\r\n  b\r\n'), '(from "a")\n(run "a   b")\n');
  assert.equal(dump('From a\nRuN x\n'), '(from "a")\n(run "x")\n');
  const df = parseDockerfile('FROM a\r\n');
  assert.equal(df.instructions[0]?.keyword, 'FROM');
});

test('continuations: comments and empty lines inside, warning, escape at EOF, escaped escape', () => {
  const df = parseDockerfile('FROM a\nRUN a \\\n# inside\n\n  b \\\n   # indented\n  c\nRUN x \\');
  assert.equal(dumpDockerfile(df), '(from "a")\n(run "a   b   c")\n(run "x")\n');
  assert.equal(df.warnings.length, 1);
  assert.equal(df.warnings[0]?.message, 'Empty continuation line found in: RUN a   b   c');
  assert.deepEqual([df.instructions[1]?.range.start.line, df.instructions[1]?.range.end.line], [2, 7]);
  assert.equal(dump('FROM a\nRUN echo \\\\\nRUN b\n'), '(from "a")\n(run "echo \\\\\\\\")\n(run "b")\n');
  assert.equal(dump('\\\nFROM a\n'), '(from "a")\n');
  assert.equal(dump('FROM a\nRUN x\\ \t\ny\n'), '(from "a")\n(run "xy")\n');
});

test('escape directive: backtick continues lines and escapes, backslash is literal', () => {
  const df = parseDockerfile('# escape=`\nFROM a\nRUN dir c:\\ `\n  /s\nCOPY --chown="a b"`" x y\n');
  assert.equal(df.escape, '`');
  assert.deepEqual(df.directives.map((d) => [d.name, d.value]), [['escape', '`']]);
  assert.equal(dumpDockerfile(df), '(from "a")\n(run "dir c:\\\\   /s")\n(copy ["--chown=a b\\""] "x" "y")\n');
});

test('directives: only at the top, duplicates and bad escape are errors, scanning stops', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n#CHECK = skip=all\n  # escape = \\\nFROM a\n');
  assert.deepEqual(df.directives.map((d) => [d.name, d.value]), [['syntax', 'docker/dockerfile:1'], ['check', 'skip=all'], ['escape', '\\']]);
  rejects('# syntax=a\n# syntax=b\nFROM a\n', 'only one syntax parser directive can be used', 2);
  rejects('# escape=x\nFROM a\n', "invalid escape token 'x' does not match ` or \\", 1);
  // A blank line, an ordinary comment or an unknown key ends directive scanning.
  assert.equal(parseDockerfile('\n# escape=`\nFROM a\n').escape, '\\');
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM a\n').escape, '\\');
  assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM a\n').escape, '\\');
  assert.equal(parseDockerfile('# syntax=x\n# syntax=y\n'.replace(/# syntax=y\n/, '') + 'FROM a\n').directives.length, 1);
  // Directives are not comments of the first instruction; ordinary comments are.
  const c = parseDockerfile('# syntax=x\n# the base\n#\n# really\nFROM a\n');
  assert.deepEqual(c.instructions[0]?.comments, ['really']);
});

test('comments collect on the next instruction; blank lines do not reset them', () => {
  const df = parseDockerfile('FROM a\n# one\n\n  # two\nARG X\nRUN y\n');
  assert.deepEqual(df.instructions[1]?.comments, ['one', '# two']);
  assert.deepEqual(df.instructions[2]?.comments, []);
});

test('JSON forms: exec form, fallback to shell form, non-string elements rejected', () => {
  assert.equal(dump('FROM a\nCMD ["a", "b c"]\nCMD []\nCMD [\'a\']\nCMD ["a",]\n'), '(from "a")\n(cmd "a" "b c")\n(cmd)\n(cmd "[\'a\']")\n(cmd "[\\"a\\",]")\n');
  assert.equal(parseDockerfile('FROM a\nENTRYPOINT ["x"]\n').instructions[1]?.json, true);
  rejects('FROM a\nCMD ["a", 1]\n', 'when using JSON array syntax, arrays must be comprised of strings only', 2);
  rejects('FROM a\nRUN ["a", null]\n', /strings only/);
  assert.equal(dump('FROM a\nCMD [1e999]\n'), '(from "a")\n(cmd "[1e999]")\n');
  assert.equal(dump('FROM a\nCOPY ["a b", "c"]\nVOLUME /a  /b\n'), '(from "a")\n(copy "a b" "c")\n(volume "/a" "/b")\n');
});

test('argument shapes per instruction', () => {
  assert.equal(dump('FROM a AS b\nENV A=1 B="2 3"\nENV C 4 5\nLABEL "k"=v\nARG x=1 y "z=2 3"\nEXPOSE 80  90\nUSER a b\nWORKDIR /a b\n'),
    '(from "a" "AS" "b")\n(env "A" "1" "=" "B" "\\"2 3\\"" "=")\n(env "C" "4 5" "")\n(label "\\"k\\"" "v" "=")\n(arg "x=1" "y" "\\"z=2 3\\"")\n(expose "80" "90")\n(user "a b")\n(workdir "/a b")\n');
  rejects('FROM a\nENV A=1 B\n', 'Syntax error - can\'t find = in "B". Must be of the form: name=value', 2);
  rejects('FROM a\nLABEL x\n', 'LABEL must have two arguments', 2);
  assert.equal(dump('FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --retries=3 CMD curl x\nHEALTHCHECK CMD ["a"]\n'),
    '(from "a")\n(healthcheck "NONE")\n(healthcheck ["--retries=3"] "CMD" "curl x")\n(healthcheck "CMD" "a")\n');
  assert.equal(dump('FROM a\nconstructor x\n__proto__ y\ntoString\n'), '(from "a")\n(constructor "")\n(__proto__ "")\n(tostring "")\n');
  assert.equal(dump('FROM a\nONBUILD RUN --mount=x echo hi\nONBUILD\nFROBNICATE x y\n'),
    '(from "a")\n(onbuild (run ["--mount=x"] "echo hi"))\n(onbuild)\n(frobnicate "")\n');
});

test('flags: quotes removed, escapes, -- ends flags, only leading words', () => {
  assert.equal(dump('FROM a\nCOPY --chown="a b" --from=\'x\' -- --notflag y\nRUN --a -b c --d\n'),
    '(from "a")\n(copy ["--chown=a b" "--from=x"] "--notflag" "y")\n(run ["--a"] "-b c --d")\n');
  assert.equal(dump('FROM a\nRUN --x=a\\ b c\n'), '(from "a")\n(run ["--x=a b"] "c")\n');
});

test('source ranges of instructions and arguments', () => {
  const df = parseDockerfile('FROM alpine AS base\n\n  RUN echo \\\n    hi\nENV A=b\n');
  const [from, run, env] = df.instructions;
  assert.deepEqual(from?.range, { start: { line: 1, column: 1 }, end: { line: 1, column: 19 } });
  assert.deepEqual(from?.args[2]?.range, { start: { line: 1, column: 16 }, end: { line: 1, column: 19 } });
  assert.deepEqual(run?.range, { start: { line: 3, column: 3 }, end: { line: 4, column: 6 } });
  assert.deepEqual(run?.args[0]?.range, { start: { line: 3, column: 7 }, end: { line: 4, column: 6 } });
  assert.deepEqual(env?.args[1]?.range, { start: { line: 5, column: 7 }, end: { line: 5, column: 7 } });
  assert.equal(run?.sourceLine, '  RUN echo \\');
});

test('errors: empty file, comments only, line too long, with positions', () => {
  rejects('', 'file with no instructions');
  rejects('# a\n# b\n\n', 'file with no instructions');
  rejects(`FROM a\nLABEL x=${'a'.repeat(70000)}\n`, 'dockerfile line greater than max allowed size of 65535', 2);
  const e = rejects('FROM a\n  CMD ["a", {}]\n', /strings only/, 2);
  assert.equal(e.column, 3);
  assert.equal(e.sourceLine, '  CMD ["a", {}]');
});

test('Go-compatible quoting in the dump', () => {
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('\x00\x07\t\n\x7f'), '"\\x00\\a\\t\\n\\x7f"');
  assert.equal(goQuote('♥ ☃ 한국어'), '"♥ ☃ 한국어"');
  assert.equal(goQuote('\u00a0\u2028\ufeff'), '"\\u00a0\\u2028\\ufeff"');
  assert.equal(goQuote('\u{1F600}\u{E0001}'), '"\u{1F600}\\U000e0001"');
});

test("the lexer and grammar pass Chevrotain's own validations (skipped in production)", async () => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { pathToFileURL } = await import('node:url');
  const { repoRoot } = await import('../../support/env.js');
  const parser = pathToFileURL(join(repoRoot, 'dist', 'grammar', 'parser.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `const { parseDockerfile } = await import(${JSON.stringify(parser)}); process.stdout.write(String(parseDockerfile('FROM a\\nRUN <<EOF\\nx\\nEOF\\n').instructions.length));`],
  { env: { ...process.env, KILN_GRAMMAR_VALIDATE: '1' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '2');
});
