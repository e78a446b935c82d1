/**
 * `--build-arg`s, parsed once where the user gives them: `NAME=VALUE`, or `NAME` alone taking
 * kiln's own environment variable (empty when unset), as docker's client does. Their values are
 * literal — BuildKit never expands a build arg itself; ARG and FROM lines use them as given (see
 * args.ts). `SOURCE_DATE_EPOCH` given as one sets the build's clock.
 */

/** The build args of one build, by name (a later `--build-arg` of a name wins). */
export type BuildArgs = ReadonlyMap<string, string>;

/** A `--build-arg` with no name (`=VALUE`). */
export class BuildArgError extends Error {}

export function parseBuildArgs(texts: readonly string[], env: NodeJS.ProcessEnv = process.env): BuildArgs {
  const args = new Map<string, string>();
  for (const text of texts) {
    const eq = text.indexOf('=');
    if (eq < 0) { args.set(text, env[text] ?? ''); continue; }
    if (eq === 0) throw new BuildArgError(`invalid --build-arg "${text}": expected KEY=VALUE`);
    args.set(text.slice(0, eq), text.slice(eq + 1));
  }
  return args;
}

/** SOURCE_DATE_EPOCH given as a build arg (undefined when not given; NaN when it is no number). */
export function buildArgEpoch(args: BuildArgs): number | undefined {
  return args.has('SOURCE_DATE_EPOCH') ? Number(args.get('SOURCE_DATE_EPOCH')) : undefined;
}
