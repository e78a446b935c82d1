/**
 * `parseDockerfile(text)`: Dockerfile text in, AST out (grammar/ast.ts), or a ParseError.
 *
 * Stages: directives are scanned first (they choose the escape character), the lexer
 * (lexer.ts) cuts the text into physical-line tokens in modes, the Chevrotain grammar below
 * groups them into comments, blank lines and instructions (text segments, continuation
 * lines, heredoc bodies), and each instruction's logical line is shaped by the line parsers
 * (lineParsers.ts) into keyword, flags and arguments with source positions.
 */
import { EmbeddedActionsParser, type IToken } from 'chevrotain';
import type { Argument, Dockerfile, Heredoc, Instruction, Position, SourceRange } from './ast.js';
import { scanDirectives } from './directives.js';
import { ExpansionError } from './expand.js';
import { goTrimSpace } from './goText.js';
import { canContainHeredoc, heredocsFromLine } from './heredoc.js';
import {
  allTokens, BlankLine, CommentLine, ContComment, ContContinuation, ContEmpty, ContText, Continuation,
  HeredocBodies, Indent, LeadContinuation, LineEnd, LineEndHeredoc, Text, tokenize, type HeredocBodyPayload,
} from './lexer.js';
import { LineParseError, parseLine, type ArgSpan, type LineNode } from './lineParsers.js';
import { ParseError } from './parseError.js';

/** One instruction as the grammar groups its tokens. */
interface RawInstruction {
  first: IToken;
  texts: IToken[];
  emptyContinuation: boolean;
  last: IToken;
  heredocBodies?: IToken;
}

type Item = { kind: 'comment'; token: IToken } | { kind: 'instruction'; raw: RawInstruction };

class DockerfileGrammar extends EmbeddedActionsParser {
  constructor() {
    super(allTokens, { maxLookahead: 1, recoveryEnabled: false, skipValidations: process.env.KILN_GRAMMAR_VALIDATE !== '1' });
    this.performSelfAnalysis();
  }

  readonly file = this.RULE('file', (): Item[] => {
    const items: Item[] = [];
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(BlankLine); } },
        { ALT: () => { const token = this.CONSUME(CommentLine); items.push({ kind: 'comment', token }); } },
        { ALT: () => { const raw = this.SUBRULE(this.instruction); items.push({ kind: 'instruction', raw }); } },
      ]);
    });
    return items;
  });

  /** instruction := Indent? (Text | LeadContinuation) continuationPart* lineEnd? */
  readonly instruction = this.RULE('instruction', (): RawInstruction => {
    const texts: IToken[] = [];
    let emptyContinuation = false;
    let heredocBodies: IToken | undefined;
    const indent = this.OPTION(() => this.CONSUME(Indent));
    let last = this.OR1([
      { ALT: () => { const t = this.CONSUME(Text); texts.push(t); return t; } },
      { ALT: () => this.CONSUME(LeadContinuation) },
    ]);
    const first = indent ?? last;
    this.MANY(() => {
      last = this.OR2([
        { ALT: () => this.CONSUME(Continuation) },
        { ALT: () => this.CONSUME(ContComment) },
        { ALT: () => { const t = this.CONSUME(ContEmpty); emptyContinuation = true; return t; } },
        { ALT: () => this.CONSUME(ContContinuation) },
        { ALT: () => { const t = this.CONSUME(ContText); texts.push(t); return t; } },
      ]);
    });
    this.OPTION2(() => {
      this.OR3([
        { ALT: () => { last = this.CONSUME(LineEnd); } },
        {
          ALT: () => {
            last = this.CONSUME(LineEndHeredoc);
            this.OPTION3(() => { heredocBodies = this.CONSUME(HeredocBodies); });
          },
        },
      ]);
    });
    const raw: RawInstruction = { first, texts, emptyContinuation, last };
    if (heredocBodies !== undefined) raw.heredocBodies = heredocBodies;
    return raw;
  });
}

let grammar: DockerfileGrammar | undefined;

/** BuildKit reads lines with a 64 KiB scanner buffer; longer lines are an error. */
const MAX_LINE_BYTES = 65535;

/** Positions in the source text: offset → 1-based line/column. */
class SourceMap {
  readonly lineStarts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
  }
  lineOf(offset: number): number {
    let lo = 0, hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] as number) <= offset) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  }
  position(offset: number): Position {
    const line = this.lineOf(offset);
    return { line, column: offset - (this.lineStarts[line - 1] as number) + 1 };
  }
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    return this.text.slice(start, next === undefined ? this.text.length : next - 1).replace(/\r+$/, '');
  }
  /** Position of the last character of a line (column 1 for an empty line). */
  lineEnd(line: number): Position {
    return { line, column: Math.max(1, this.lineText(line).length) };
  }
  get lineCount(): number {
    const n = this.lineStarts.length;
    return this.text.endsWith('\n') ? n - 1 : n;
  }
}

function fail(map: SourceMap, message: string, line: number, column = 1): never {
  throw new ParseError(message, line, column, map.lineText(line));
}

/** Maps offsets in a logical line back to the source text. */
class LogicalLine {
  text = '';
  private readonly segments: { logical: number; source: number; length: number }[] = [];
  add(token: IToken): void {
    this.segments.push({ logical: this.text.length, source: token.startOffset, length: token.image.length });
    this.text += token.image;
  }
  sourceOffset(p: number): number | undefined {
    for (const s of this.segments) {
      if (p >= s.logical && p < s.logical + s.length) return s.source + (p - s.logical);
    }
    return undefined;
  }
}

function checkLineLengths(text: string, map: SourceMap): void {
  if (text.length <= MAX_LINE_BYTES / 3) return;
  for (let line = 1; line <= map.lineStarts.length; line++) {
    const content = map.lineText(line);
    if (content.length > MAX_LINE_BYTES / 3 && Buffer.byteLength(content, 'utf8') > MAX_LINE_BYTES) {
      fail(map, `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, line);
    }
  }
}

function buildInstruction(node: LineNode, logical: LogicalLine, map: SourceMap, range: SourceRange, comments: string[], heredocs: Heredoc[]): Instruction {
  const toArg = (a: ArgSpan): Argument => {
    if (a.start === undefined || a.end === undefined || a.end <= a.start) return { value: a.value };
    const s = logical.sourceOffset(a.start);
    const e = logical.sourceOffset(a.end - 1);
    if (s === undefined || e === undefined) return { value: a.value };
    return { value: a.value, range: { start: map.position(s), end: map.position(e) } };
  };
  const instr: Instruction = {
    keyword: node.keyword,
    name: node.keyword.toUpperCase(),
    flags: node.flags,
    args: node.args.map(toArg),
    json: node.json,
    original: node.original,
    heredocs,
    comments,
    range,
    sourceLine: map.lineText(range.start.line),
  };
  if (node.sub) instr.next = buildInstruction(node.sub, logical, map, range, [], []);
  return instr;
}

/** Parses a Dockerfile. Throws ParseError on text BuildKit's parser rejects. */
export function parseDockerfile(input: string): Dockerfile {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const map = new SourceMap(text);
  checkLineLengths(text, map);

  const scan = scanDirectives(text);
  if (scan.error) fail(map, scan.error.message, scan.error.line, scan.error.column);
  const directiveLines = scan.directives.length;
  const items = parseItems(text, map, scan.escape);

  const instructions: Instruction[] = [];
  const warnings: Dockerfile['warnings'] = [];
  let comments: string[] = [];
  for (const item of items) {
    if (item.kind === 'comment') {
      if (map.lineOf(item.token.startOffset) <= directiveLines) continue;
      const comment = goTrimSpace(item.token.image.slice(1));
      if (comment === '') comments = [];
      else comments.push(comment);
      continue;
    }
    instructions.push(instructionOf(item.raw, { text, map, escape: scan.escape, warnings }, comments));
    comments = [];
  }

  if (instructions.length === 0) {
    const last = Math.max(1, map.lineCount);
    fail(map, 'file with no instructions', last);
  }
  const firstInstr = instructions[0] as Instruction;
  const lastInstr = instructions[instructions.length - 1] as Instruction;
  return {
    directives: scan.directives,
    escape: scan.escape,
    instructions,
    warnings,
    range: { start: firstInstr.range.start, end: lastInstr.range.end },
  };
}

/** The text lexed and read by the grammar into comments and raw instructions; a lexing or syntax error fails at its place. */
function parseItems(text: string, map: SourceMap, escape: string): Item[] {
  const lexed = tokenize(text, escape);
  if (lexed.errorOffset !== undefined) {
    const p = map.position(lexed.errorOffset);
    fail(map, 'unexpected character', p.line, p.column);
  }
  grammar ??= new DockerfileGrammar();
  grammar.input = lexed.tokens;
  const items = grammar.file();
  const syntaxError = grammar.errors[0];
  if (syntaxError !== undefined) {
    const p = map.position(Number.isNaN(syntaxError.token.startOffset) ? text.length : syntaxError.token.startOffset);
    fail(map, syntaxError.message, p.line, p.column);
  }
  return items;
}

/** The whole file's text and places, its escape character, and the warnings gathered. */
interface FileReading {
  readonly text: string;
  readonly map: SourceMap;
  readonly escape: string;
  readonly warnings: Dockerfile['warnings'];
}

/** One raw instruction as BuildKit's parser reads it: its logical line, its node, its heredocs, its range. */
function instructionOf(raw: RawInstruction, file: FileReading, comments: string[]): Instruction {
  const { map } = file;
  const startLine = map.lineOf(raw.first.startOffset);
  const firstContent = raw.texts[0] !== undefined && map.lineOf(raw.texts[0].startOffset) === startLine ? raw.texts[0] : undefined;
  const startColumn = map.position(firstContent?.startOffset ?? raw.first.startOffset + (raw.first.tokenType === Indent ? raw.first.image.length : 0)).column;
  let endLine = map.lineOf(raw.last.startOffset);

  const logical = new LogicalLine();
  for (const t of raw.texts) logical.add(t);
  if (raw.emptyContinuation) {
    file.warnings.push({
      message: `Empty continuation line found in: ${logical.text}`,
      range: { start: { line: endLine, column: 1 }, end: map.lineEnd(endLine) },
    });
  }

  let node: LineNode;
  try {
    node = parseLine(logical.text, file.escape);
  } catch (e) {
    if (e instanceof LineParseError) fail(map, e.message, startLine, startColumn);
    throw e;
  }

  const heredocs: Heredoc[] = [];
  if (canContainHeredoc(node) && logical.text.includes('<<')) {
    endLine = readHeredocs(raw, logical.text, file, { line: startLine, column: startColumn }, heredocs) ?? endLine;
  }
  const range: SourceRange = { start: { line: startLine, column: startColumn }, end: map.lineEnd(endLine) };
  return buildInstruction(node, logical, map, range, comments, heredocs);
}

/** The heredocs a line names, with their bodies, into `heredocs`; returns the line the last one ends on (none: undefined). */
function readHeredocs(raw: RawInstruction, line: string, file: FileReading, start: Position, heredocs: Heredoc[]): number | undefined {
  const { text, map } = file;
  let markers;
  try {
    markers = heredocsFromLine(line);
  } catch (e) {
    if (e instanceof ExpansionError) fail(map, e.message, start.line, start.column);
    throw e;
  }
  if (markers.length === 0) return undefined;
  const payload = raw.heredocBodies?.payload as HeredocBodyPayload | undefined;
  let bodyStart = raw.heredocBodies?.startOffset ?? text.length;
  let endLine: number | undefined;
  for (let i = 0; i < markers.length; i++) {
    const body = payload?.bodies[i];
    if (body === undefined || !body.terminated) {
      fail(map, 'unterminated heredoc', start.line, start.column);
    }
    const marker = markers[i] as (typeof markers)[number];
    const termLine = map.lineOf(Math.max(bodyStart, body.endOffset - 1));
    heredocs.push({
      ...marker,
      content: body.content,
      range: { start: map.position(Math.min(bodyStart, text.length - 1)), end: map.lineEnd(termLine) },
    });
    bodyStart = body.endOffset;
    endLine = termLine;
  }
  return endLine;
}
