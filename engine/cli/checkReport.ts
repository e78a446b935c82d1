/**
 * `kiln build --check`'s report, worded and laid out as `docker buildx build --check` prints
 * BuildKit's lint result: a count line, then each finding by line (WARNING, URL, message and the
 * Dockerfile lines around it, the lines it points at marked `>>>`).
 */
import type { CheckFinding, LineRange } from '../plan/checks/findings.js';

/** BuildKit's errdefs.Source.Print: the finding's lines with two (four for one line) around them, as it pads. */
function sourceSnippet(file: string, text: string, ranges: readonly LineRange[]): string {
  if (ranges.length === 0) return '';
  const lines = text.split('\n');
  let start = Math.min(...ranges.map((r) => r.start));
  let end = Math.max(...ranges.map((r) => Math.max(r.start, r.end)));
  if (start > lines.length || start < 1) return '';
  end = Math.min(end, lines.length);
  const pad = end === start ? 4 : 2;
  const first = start;
  // The same loop as BuildKit's: it counts a step even when neither end can grow.
  for (let p = 0; p < pad;) {
    if (start > 1) { start--; p++; }
    if (end !== lines.length) { end++; p++; }
    p++;
  }
  const marked = (l: number): boolean => ranges.some((r) => r.start <= l && Math.max(r.start, r.end) >= l);
  let out = `${file}:${first}\n--------------------\n`;
  for (let l = start; l <= end; l++) out += ` ${String(l).padStart(3)} | ${marked(l) ? '>>>' : '   '} ${lines[l - 1]}\n`;
  return `${out}--------------------\n`;
}

/** The findings in line order (those pointing nowhere first), as BuildKit sorts them. */
function byLine(findings: readonly CheckFinding[]): CheckFinding[] {
  return [...findings].sort((a, b) => {
    const la = a.ranges[0]?.start;
    const lb = b.ranges[0]?.start;
    if (la === undefined || lb === undefined) return la === lb ? (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) : la === undefined ? -1 : 1;
    return la - lb;
  });
}

/** Each finding as BuildKit's lint result text prints it. */
export function lintResultText(findings: readonly CheckFinding[], file: string, dockerfileText: string): string {
  return byLine(findings).map((f) => `\nWARNING: ${f.rule}${f.url ? ` - ${f.url}` : ''}\n${f.message}\n${sourceSnippet(file, dockerfileText, f.ranges)}`).join('');
}

/** The whole report: buildx's count line, then the findings. */
export function checkReportText(findings: readonly CheckFinding[], file: string, dockerfileText: string): string {
  if (findings.length === 0) return 'Check complete, no warnings found.\n';
  const count = findings.length === 1 ? '1 warning has been found!' : `${findings.length} warnings have been found!`;
  return `Check complete, ${count}\n${lintResultText(findings, file, dockerfileText)}`;
}
