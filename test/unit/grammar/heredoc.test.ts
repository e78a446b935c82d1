/**
 * Heredocs as BuildKit reads them: markers on non-JSON RUN/COPY/ADD (and under ONBUILD),
 * `<<-` chomping, quoted delimiters turning expansion off, fd prefixes, several per line,
 * verbatim bodies (comments and continuations untouched), unterminated heredocs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../grammar/parser.js';
import { dumpDockerfile } from '../../../grammar/dump.js';
import { ParseError } from '../../../grammar/parseError.js';
import { ExpansionError } from '../../../grammar/expand.js';
import { chompHeredocContent, heredocsFromLine, parseHeredocMarker } from '../../../grammar/heredoc.js';

const heredocs = (text: string): [string, string, boolean, boolean, number][][] =>
  parseDockerfile(text).instructions.map((i) => i.heredocs.map((h) => [h.name, h.content, h.expand, h.chomp, h.fileDescriptor]));

test('markers: names, quoting, chomp, fd, several per line', () => {
  const text = [
    'FROM a', 'USER <<INVALID', 'INVALID',
    'RUN 3<<EMPTY', 'EMPTY',
    'RUN "<<NOHEREDOC"',
    'RUN <<-UNINDENT', '\tbaz', '\tUNINDENT',
    'RUN <<-\'NOEXPAND\'', '\tdon\'t $X', 'NOEXPAND',
    'COPY <<X <<Y /dest', 'Y', 'X', 'X', 'Y',
    'RUN <<eo\'f\'', 'echo foo', 'eof',
    'RUN <<eo\\\'f', 'x', 'eo\'f',
    'RUN <<  EOF  > foo', 'EOF',
    'RUN <<COMMENT', '# internal comment', 'echo \\', 'COMMENT',
    'ONBUILD ADD <<F /f', 'body', 'F',
    'RUN ["<<EOF"]',
  ].join('\n') + '\n';
  assert.deepEqual(heredocs(text), [
    [], [], [],
    [['EMPTY', '', true, false, 3]],
    [],
    [['UNINDENT', '\tbaz\n', true, true, 0]],
    [['NOEXPAND', '\tdon\'t $X\n', false, true, 0]],
    [['X', 'Y\n', true, false, 0], ['Y', 'X\n', true, false, 0]],
    [['eof', 'echo foo\n', false, false, 0]],
    [['eo\'f', 'x\n', true, false, 0]],
    [['EOF', '', true, false, 0]],
    [['COMMENT', '# internal comment\necho \\\n', true, false, 0]],
    [['F', 'body\n', true, false, 0]],
    [],
  ]);
  const df = parseDockerfile(text);
  assert.match(dumpDockerfile(df), /\(copy "<<X" "<<Y" "\/dest"\)/);
  const copy = df.instructions[7];
  assert.deepEqual([copy?.range.start.line, copy?.range.end.line], [13, 17]);
  assert.deepEqual(copy?.heredocs.map((h) => [h.range.start.line, h.range.end.line]), [[14, 15], [16, 17]]);
});

test('bodies are verbatim, CRLF kept, terminator may carry trailing CRs', () => {
  assert.deepEqual(heredocs('FROM a\r\nRUN <<EOF\r\nline\r\nEOF\r\nRUN x\r\n')[1], [['EOF', 'line\r\n', true, false, 0]]);
  assert.deepEqual(heredocs('FROM a\nRUN <<EOF\n  EOF\nEOF')[1], [['EOF', '  EOF\n', true, false, 0]]);
});

test('unterminated heredoc is an error at the instruction', () => {
  for (const text of ['FROM a\nRUN <<EOF\nfoo\n', 'FROM a\nRUN <<EOF', 'FROM a\nCOPY <<A <<B /x\nA\nb\n']) {
    assert.throws(() => parseDockerfile(text), (e: unknown) => e instanceof ParseError && e.message === 'unterminated heredoc' && e.line === 2);
  }
});

test('marker helpers', () => {
  for (const src of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"', '<< EOF', '<<- EOF']) {
    assert.equal(parseHeredocMarker(src)?.name, 'EOF', src);
  }
  for (const src of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh']) assert.equal(parseHeredocMarker(src), undefined, src);
  for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) assert.throws(() => parseHeredocMarker(src), ExpansionError, src);
  assert.deepEqual(heredocsFromLine('RUN <<EOF <<-"B" cat').map((h) => [h.name, h.chomp, h.expand]), [['EOF', false, true], ['B', true, false]]);
  assert.equal(chompHeredocContent('\thello\n\t\tworld\n'), 'hello\nworld\n');
});
