/**
 * BuildKit's `Node.Dump` text for a parsed Dockerfile: one s-expression per instruction,
 * `(keyword ["--flags"] "arg" …)`, keyword lower-cased, strings quoted as Go's
 * strconv.Quote does, ONBUILD's instruction nested. Heredoc bodies and directives are not
 * part of the dump.
 */
import type { Dockerfile, Instruction } from './ast.js';
import { goQuote, goQuoteList, goTrimSpace } from './goText.js';
import { goLower } from './lineParsers.js';

/** One instruction's s-expression body (without the surrounding parentheses). */
export function dumpInstruction(instr: Instruction): string {
  let s = goLower(instr.keyword);
  if (instr.flags.length > 0) s += ' ' + goQuoteList(instr.flags);
  for (const a of instr.args) s += ' ' + goQuote(a.value);
  if (instr.next) s += ' (' + dumpInstruction(instr.next) + ')';
  return goTrimSpace(s);
}

/** The whole dump, ending with one newline (as BuildKit's `result` files do). */
export function dumpDockerfile(df: Dockerfile): string {
  return df.instructions.map((i) => `(${dumpInstruction(i)})`).join('\n') + '\n';
}
