/**
 * A Dockerfile the parser or instruction layer rejects. Carries the position so the CLI
 * can print `Dockerfile:LINE:COL: message` with the offending line and a caret.
 */
export class ParseError extends Error {
  /** 1-based line and column of the offending text. */
  readonly line: number;
  readonly column: number;
  /** The full text of the offending line, for the caret display (may be empty). */
  readonly sourceLine: string;

  constructor(message: string, line: number, column: number, sourceLine = '') {
    super(message);
    this.name = 'ParseError';
    this.line = line;
    this.column = column;
    this.sourceLine = sourceLine;
  }
}
