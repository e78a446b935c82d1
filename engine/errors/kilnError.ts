/**
 * A user's mistake: bad input, a missing file, an unknown image. The CLI prints it as
 * `WHERE: message` and exits non-zero without a stack trace. Anything that is not a
 * KilnError (or a grammar ParseError) is a bug and is printed with its stack.
 */
export interface ErrorLocation {
  /** File the error concerns (a Dockerfile path, an archive, an image reference). */
  file: string;
  /** 1-based line and column, when the error points into a text file. */
  line?: number;
  column?: number;
}

export class KilnError extends Error {
  readonly code: string;
  readonly location: ErrorLocation | undefined;
  /** Exit status the CLI uses; 1 unless the error says otherwise (2 for usage errors). */
  readonly exitCode: number;

  constructor(code: string, message: string, options: { location?: ErrorLocation; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.location = options.location;
    this.exitCode = options.exitCode ?? 1;
  }
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}
