import type { CommandSpec, ParsedArgs } from './args.js';

/** What a verb's module exports; main.ts imports it only when that verb is used. */
export interface CommandModule {
  spec: CommandSpec;
  /** Returns the process exit code. Throws KilnError for a user's mistake. */
  run(args: ParsedArgs): Promise<number>;
}
