/**
 * What kiln was started with, taken before a verb changes any of it (`--root` sets KILN_ROOT):
 * the arguments, the environment and the working directory. A build's replay record is keyed
 * by these exactly as the next `kiln build` will see them when it starts (see replay/).
 */
export interface Launch {
  /** The command line after `kiln`, global options included. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

let launch: Launch | undefined;

/** The environment as a plain record (process.env without its undefined values). */
export function environmentRecord(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export function rememberLaunch(argv: readonly string[]): void {
  launch ??= { argv: [...argv], env: environmentRecord(process.env), cwd: process.cwd() };
}

/** What this process was started with; undefined when it did not start from the command line (tests). */
export function launched(): Launch | undefined {
  return launch;
}
