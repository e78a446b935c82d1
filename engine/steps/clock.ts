/**
 * Image times: the step clock's epoch from a config's `created`, its RFC 3339 spelling, and the
 * newest mtime in a diff dir. Kept apart from the step executor so that a build whose steps all
 * come from the cache does not load the executor (and the tar, copy and run code behind it).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StageState } from './state.js';

export function epochOf(config: StageState['config']): number {
  const t = Date.parse(config.created ?? '');
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** Newest mtime (whole seconds) of anything in a diff dir (synchronous walk: many tiny calls). */
export async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      newest = Math.max(newest, Math.floor(lstatSync(p).mtimeMs / 1000));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return newest;
}
