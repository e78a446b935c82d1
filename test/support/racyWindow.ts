/**
 * Waits until files have left the stat cache's racy window (their mtime and ctime older than
 * RACY_WINDOW_MS), so a build hashing them now persists their stat entries. A test that wants
 * the stat cache used waits for that state instead of sleeping a guessed time.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RACY_WINDOW_MS } from '../../cache/statCache.js';

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path);
    return e.isFile() ? [path] : [];
  });
}

/** Resolves once every file under `dir` (or each of `paths`) was last changed outside the racy window. */
export async function outsideRacyWindow(dir: string, paths?: readonly string[]): Promise<void> {
  const files = paths?.map((p) => join(dir, p)) ?? filesUnder(dir);
  for (;;) {
    const newest = Math.max(...files.map((f) => { const st = statSync(f); return Math.max(st.mtimeMs, st.ctimeMs); }));
    if (newest <= Date.now() - RACY_WINDOW_MS - 1) return;
    await sleep(10);
  }
}
