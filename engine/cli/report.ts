import { KilnError } from '../errors/kilnError.js';
import { ParseError } from '../../grammar/parseError.js';

/** A Dockerfile error with its file name attached on its way to the user. */
export class DockerfileError extends KilnError {
  readonly parse: ParseError;
  constructor(file: string, parse: ParseError) {
    super('DOCKERFILE', parse.message, { location: { file, line: parse.line, column: parse.column } });
    this.parse = parse;
  }
}

function caret(sourceLine: string, column: number): string {
  // Keep tabs so the caret lines up under the offending character.
  const pad = sourceLine.slice(0, Math.max(0, column - 1)).replace(/[^\t]/g, ' ');
  return `  ${sourceLine}\n  ${pad}^\n`;
}

/** Prints an error the way the user should see it; returns the exit code. */
export function reportError(err: unknown, out: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof DockerfileError) {
    const loc = err.location;
    out.write(`${loc?.file}:${err.parse.line}:${err.parse.column}: ${err.message}\n`);
    if (err.parse.sourceLine !== '') out.write(caret(err.parse.sourceLine, err.parse.column));
    return err.exitCode;
  }
  if (err instanceof ParseError) {
    out.write(`Dockerfile:${err.line}:${err.column}: ${err.message}\n`);
    if (err.sourceLine !== '') out.write(caret(err.sourceLine, err.column));
    return 1;
  }
  if (err instanceof KilnError) {
    const loc = err.location;
    let where = loc ? `${loc.file}${loc.line !== undefined ? `:${loc.line}${loc.column !== undefined ? `:${loc.column}` : ''}` : ''}: ` : 'kiln: ';
    // Messages about an archive or image often name it already; say it once.
    if (loc && loc.line === undefined && err.message.startsWith(where)) where = '';
    out.write(`${where}${err.message}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'EPIPE') return 0;
  out.write(`kiln: internal error (this is a bug in kiln, please report it):\n${e && e.stack ? e.stack : String(err)}\n`);
  return 70;
}
