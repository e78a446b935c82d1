/**
 * Why the build context is walked by hand (engine/context/sourceTree.ts) and not with fast-glob
 * (see the README's Benchmarks): both enumerate the same generated contexts, each returning every entry's lstat, sorted, as a
 * COPY of the whole context needs (the stat cache keys on size, mtime, inode and mode), taking
 * turns repetition by repetition so neither gets the quiet minutes:
 *   - plain: 20,000 files in 100 directories (the 20,000-file COPY of `npm run bench`);
 *   - ignored: 20,000 files in 400 directories plus a 5,000-file node_modules and a log that
 *     .dockerignore excludes (kiln prunes the excluded directory; fast-glob is handed the same
 *     exclusions as its own ignore patterns).
 * fast-glob runs async (lstat through the thread pool, as it does by default) and sync. It is no
 * dependency of kiln: `npm install --no-save fast-glob@3.3.3` to compare.
 *
 *   node dist/bench/contextWalk.js [--reps N]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IgnoreMatcher } from '../engine/context/dockerignore.js';
import { SourceTree } from '../engine/context/sourceTree.js';

function plainContext(root: string): void {
  for (let i = 0; i < 20_000; i++) {
    const d = join(root, `d${i % 100}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}.txt`), `file ${i}\n`);
  }
}

function ignoredContext(root: string): void {
  for (let d = 0; d < 400; d++) {
    const dir = join(root, 'src', `pkg${d % 20}`, `mod${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(dir, `file${f}.ts`), `export const x${f} = ${f};\n`);
  }
  for (let d = 0; d < 50; d++) {
    const dir = join(root, 'node_modules', `dep${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `index${f}.js`), '');
  }
  writeFileSync(join(root, 'build.log'), 'x');
}

interface GlobEntry { path: string; stats?: unknown }
interface GlobOptions { cwd: string; dot: boolean; onlyFiles: boolean; stats: boolean; followSymbolicLinks: boolean; ignore: string[] }
interface FastGlob { (pattern: string, o: GlobOptions): Promise<GlobEntry[]>; sync(pattern: string, o: GlobOptions): GlobEntry[] }

async function loadFastGlob(): Promise<FastGlob | undefined> {
  const name = 'fast-glob'; // a variable, so that the build does not need it installed
  try {
    return ((await import(name)) as { default: FastGlob }).default;
  } catch {
    return undefined;
  }
}

const byPath = <T extends { p: string }>(a: T, b: T): number => (a.p < b.p ? -1 : a.p > b.p ? 1 : 0);

interface Walker { name: string; walk: (root: string, ignore: string[]) => Promise<string[]> }

/** fast-glob's ignore patterns for .dockerignore's: a bare directory name becomes `name/**`. */
const globIgnore = (ignore: string[]): string[] => ignore.map((p) => (p.includes('.') ? p : `${p}/**`));

function walkers(fg: FastGlob | undefined): Walker[] {
  return [
  {
    name: 'kiln walk (sourceTree.ts, addon listing)',
    walk: async (root, ignore) => (await new SourceTree(root, 'build context', new IgnoreMatcher(ignore)).walk('', root)).map((e) => e.rel),
  },
  ...(fg === undefined ? [] : ([{
    name: 'fast-glob 3.3.3, stats, async',
    walk: async (root, ignore) => {
      const found = (await fg('**', { cwd: root, dot: true, onlyFiles: false, stats: true, followSymbolicLinks: false, ignore: globIgnore(ignore) })).map((e) => ({ p: e.path, s: e.stats }));
      return found.sort(byPath).map((e) => e.p);
    },
  },
  {
    name: 'fast-glob 3.3.3, stats, sync',
    walk: async (root, ignore) => {
      const found = fg.sync('**', { cwd: root, dot: true, onlyFiles: false, stats: true, followSymbolicLinks: false, ignore: globIgnore(ignore) }).map((e) => ({ p: e.path, s: e.stats }));
      return found.sort(byPath).map((e) => e.p);
    },
  }] satisfies Walker[])),
  ];
}

async function compare(walkersToRun: Walker[], label: string, make: (root: string) => void, ignore: string[], reps: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-walk-'));
  try {
    make(root);
    const times = new Map<string, number[]>(walkersToRun.map((w) => [w.name, []]));
    const cpu = new Map<string, number[]>(walkersToRun.map((w) => [w.name, []]));
    const found = new Map<string, string[]>();
    for (let rep = 0; rep < reps; rep++) {
      const order = walkersToRun.map((_, i) => walkersToRun[(i + rep) % walkersToRun.length] as Walker);
      for (const w of order) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        found.set(w.name, await w.walk(root, ignore));
        const c = process.cpuUsage(c0);
        times.get(w.name)?.push(performance.now() - t0);
        cpu.get(w.name)?.push((c.user + c.system) / 1000);
      }
    }
    const reference = found.get(walkersToRun[0]!.name) ?? [];
    process.stdout.write(`\n${label}\n`);
    for (const w of walkersToRun) {
      const t = [...(times.get(w.name) ?? [])].sort((a, b) => a - b);
      const c = [...(cpu.get(w.name) ?? [])].sort((a, b) => a - b);
      const same = JSON.stringify(found.get(w.name)) === JSON.stringify(reference);
      process.stdout.write(`  ${w.name.padEnd(40)} median ${(t[t.length >> 1] as number).toFixed(1)} ms  (min ${(t[0] as number).toFixed(1)}), CPU ${(c[c.length >> 1] as number).toFixed(1)} ms  ${found.get(w.name)?.length} entries${same ? '' : '  DIFFERENT ENTRIES'}\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf('--reps');
const reps = at > 0 ? Number(process.argv[at + 1]) : 15;
const fastGlob = await loadFastGlob();
if (!fastGlob) process.stdout.write('fast-glob is not installed (npm install --no-save fast-glob@3.3.3 to compare): kiln\'s walk alone\n');
const all = walkers(fastGlob);
await compare(all, 'plain: 20,000 files in 100 directories', plainContext, [], reps);
await compare(all, 'ignored: 20,000 files + 5,000 in node_modules (.dockerignore: node_modules, *.log)', ignoredContext, ['node_modules', '*.log'], reps);
