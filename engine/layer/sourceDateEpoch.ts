/**
 * SOURCE_DATE_EPOCH from the environment. Its own module so that reading it (every build)
 * does not load the layer writer (tar-stream), which a fully cached build never uses.
 */
import { KilnError } from '../errors/kilnError.js';

/** SOURCE_DATE_EPOCH from the environment, when set to a valid number of seconds. */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new KilnError('BAD_SOURCE_DATE_EPOCH', `SOURCE_DATE_EPOCH must be a number of seconds, not "${v}"`);
  return Number(v);
}
