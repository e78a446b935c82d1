/**
 * A Dockerfile whose bytes have not changed need not be parsed again: the parsed recipe is
 * kept as JSON under the store, keyed by the text and by the kiln build that parsed it (the
 * recipe's shape may change between builds of kiln). A rebuild then never loads the parser,
 * which is most of a no-op rebuild's start-up time.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../store/atomicFile.js';
import { digestString, loadHasher } from '../../cache/hasher.js';

/** Changes whenever this kiln is rebuilt or reinstalled: every output file is rewritten. */
function kilnBuildIdentity(): string {
  try {
    const st = statSync(fileURLToPath(import.meta.url));
    return `${st.mtimeMs}:${st.size}`;
  } catch {
    return 'unknown';
  }
}

/**
 * The parsed form of `text`: from the cache when this kiln parsed the same text before,
 * else `parse()` (whose errors pass through, uncached) and remembered. `T` must survive
 * JSON (plain objects, arrays, strings, numbers, booleans).
 */
export async function cachedParse<T>(storeRoot: string, text: string, parse: () => Promise<T>): Promise<T> {
  await loadHasher();
  const file = join(storeRoot, 'cache', 'recipes', `${digestString(`${kilnBuildIdentity()}\n${text}`)}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    // not cached (or unreadable): parse
  }
  const parsed = await parse();
  await writeFileAtomic(file, JSON.stringify(parsed)).catch(() => undefined); // a read-only store still builds
  return parsed;
}
