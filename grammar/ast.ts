/**
 * The raw syntax tree: what the Dockerfile says, with exact positions, before any
 * instruction-specific validation (that is instructions.ts). Shaped after BuildKit's
 * parser.Node so `dump.ts` can print BuildKit's `Node.Dump` text from it.
 */

/** 1-based line and column; `end` is inclusive of the last character. */
export interface Position { line: number; column: number }
export interface SourceRange { start: Position; end: Position }

export interface Directive {
  name: 'syntax' | 'escape' | 'check';
  value: string;
  range: SourceRange;
}

export interface Heredoc {
  /** The delimiter word, without quotes or `-`. */
  name: string;
  /** File descriptor prefix (`3<<EOF`); 0 when absent. */
  fileDescriptor: number;
  /** false when the delimiter was quoted: the body is taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from body lines. */
  chomp: boolean;
  /** The body, verbatim, ending with a newline per line (as BuildKit stores it). */
  content: string;
  range: SourceRange;
}

/** One argument as the dump shows it: the text and where it sits. */
export interface Argument {
  value: string;
  range?: SourceRange;
}

export interface Instruction {
  /** The keyword as written (`run`, `Run`, `RUN`). */
  keyword: string;
  /** Upper-case keyword, for dispatch. */
  name: string;
  /** Leading `--flag[=value]` words, quotes removed, as BuildKit's extractBuilderFlags gives them. */
  flags: string[];
  /** The arguments as BuildKit's line parser shapes them for this instruction (see dump.ts). */
  args: Argument[];
  /** true when the arguments came from a JSON array (exec form). */
  json: boolean;
  /** Everything after the keyword (continuations joined, comments dropped), untrimmed of flags. */
  original: string;
  heredocs: Heredoc[];
  /** ONBUILD's nested instruction. */
  next?: Instruction;
  /** `#` comment lines directly above this instruction, without the `#` and one following space. */
  comments: string[];
  range: SourceRange;
  /** The text of the instruction's first physical line, for error displays. */
  sourceLine: string;
}

export interface Dockerfile {
  directives: Directive[];
  /** The escape character in force (`\` or `` ` ``). */
  escape: string;
  instructions: Instruction[];
  /** Non-fatal findings (e.g. "Empty continuation line found in: …"). */
  warnings: { message: string; range: SourceRange }[];
  /** Range of the whole instruction list (first instruction's start to last one's end). */
  range: SourceRange;
}
