/**
 * Makes the CLI's bundles, run by `npm run build` after tsc: the whole CLI in one CommonJS file
 * (dist/bundle/kiln.cjs), and beside it a bundle for each verb (kiln-VERB.cjs) holding only the
 * modules its group of verbs reaches, plus kiln-other.cjs for a command line without a verb
 * (--help, --version, an unknown flag). bin/kiln starts the verb's bundle, or the whole one when
 * there is none: reading, compiling and evaluating the whole CLI's code was most of what
 * start-up cost a verb like `kiln exec` or `kiln stop` beyond Node's own. Each bundle is stamped
 * with the sha256 of its content (stampBundle.ts); a verb's bundle also names the whole
 * bundle's stamp, and bin/kiln runs it only beside that one. One more small bundle,
 * kiln-build-replay.cjs, answers an unchanged `kiln build` from its record before the build's
 * bundle is read (cli/replay/).
 *
 *   node dist/engine/cli/bundling/makeBundles.js [OUTDIR]   (default: dist/bundle)
 */
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { copyFileSync, linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VERBS } from '../verbs.js';
import { bundleId, stamped } from './stampBundle.js';
import { wrappedBundle } from './bundleWrapper.js';

/** The checkout this script was compiled in (it runs from dist/engine/cli/bundling/). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const verbTable = join(repoRoot, 'engine', 'cli', 'verbs.ts');

/** bin/kiln's word for a command line that names no verb (--help, --version, an unknown flag). */
export const NO_VERB = 'other';

/**
 * The verbs that share a bundle, by what they reach: each group's bundle holds its verbs' modules
 * and what those reach, and every verb of the group gets it under its own name (one file, linked).
 * A group costs one esbuild run at build time, and a verb in a group reads a little more than its
 * own code (~1 ms per 100 kB), so verbs that reach the same modules share. A verb in no group
 * runs from the whole bundle.
 */
export const VERB_GROUPS: Readonly<Record<string, readonly string[]>> = {
  container: ['attach', 'exec', 'inspect', 'kill', 'logs', 'pause', 'port', 'ps', 'restart', 'rm', 'start', 'stats', 'stop', 'unpause', 'wait'],
  supervisor: ['supervise'], // a detached run's second start-up
  run: ['run'],
  build: ['build'],
  parse: ['parse'], // the grammar, which the store's verbs never load
  store: ['check', 'history', 'image', 'images', 'load', 'login', 'logout', 'network', 'prune', 'pull', 'push', 'rmi', 'save', 'system', 'tag'],
  [NO_VERB]: [],
};

const common: BuildOptions = {
  absWorkingDir: repoRoot,
  entryPoints: [join(repoRoot, 'engine', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // A function deserialized from V8's code cache cannot run a dynamic import: each becomes require().
  supported: { 'dynamic-import': false },
  minifyWhitespace: true,
  minifySyntax: true,
  // Shorter names make a third less text to read and to hold as a string at every start (on these
  // machines about 10 ms per MB, before the code cache is even looked at): 0.94x the time of a
  // no-op rebuild. A stack trace from a bundle then names minified functions; the unbundled
  // CLI (`node dist/engine/cli/main.js`) runs the same code with the sources' names.
  minifyIdentifiers: true,
  charset: 'ascii', // bin/kiln reads a bundle as latin1
  external: ['undici'],
  define: { 'import.meta.url': '__kilnUrl' },
  banner: { js: "const __kilnUrl=require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  write: false,
  metafile: true,
};

/**
 * Keeps only `verbs`' modules in the verb table's loaders: every other verb's dynamic import becomes
 * a module that throws, so the bundle holds only what these verbs reach. bin/kiln never asks a
 * bundle for a verb it does not hold; if it ever did, the throw is an internal error naming
 * both, not another verb's code run.
 */
function onlyVerbs(verbs: readonly string[]): Plugin {
  const held = verbs.length === 0 ? 'no verb' : verbs.map((v) => `kiln ${v}`).join(', ');
  return {
    name: 'kiln-only-verbs',
    setup(b) {
      b.onResolve({ filter: /^\.\/[a-z]+\.js$/ }, (a) => {
        const verb = a.path.slice('./'.length, -'.js'.length);
        if (a.importer !== verbTable || a.kind !== 'dynamic-import' || verbs.includes(verb)) return undefined;
        return { path: verb, namespace: 'kiln-verb-elsewhere' };
      });
      b.onLoad({ filter: /.*/, namespace: 'kiln-verb-elsewhere' }, (a) => ({
        contents: `throw new Error(${JSON.stringify(`this bundle holds ${held}, not kiln ${a.path}: bin/kiln started the wrong bundle`)});`,
        loader: 'js',
      }));
    },
  };
}

/** One bundle's text (unstamped) and the source files it holds; `verbs` undefined: the whole CLI. */
async function bundle(verbs: readonly string[] | undefined, sourceMap = false): Promise<{ text: string; inputs: string[]; map?: string }> {
  const result = await build({ ...common, outfile: 'kiln.cjs', plugins: verbs === undefined ? [] : [onlyVerbs(verbs)], ...(sourceMap ? { sourcemap: 'external', sourcesContent: false } : {}) });
  const files = result.outputFiles ?? [];
  const file = files.find((f) => f.path.endsWith('.cjs'));
  const map = files.find((f) => f.path.endsWith('.cjs.map'));
  const outputs = Object.entries((result.metafile as Metafile).outputs).filter(([name]) => name.endsWith('.cjs'));
  if (file === undefined || outputs.length !== 1) throw new Error(`esbuild made ${outputs.length} files for one bundle`);
  return { text: file.text, inputs: Object.keys(outputs[0]?.[1].inputs ?? {}), ...(map ? { map: map.text } : {}) };
}

/**
 * A group's bundle as the build writes it (unstamped) with its source map: the bundles ship
 * without one, and minified names say nothing, so what a test needs to know about the source
 * behind a bundle's code it asks here (esbuild makes the same text with or without the map).
 */
export async function groupBundleSourceMap(group: string): Promise<{ text: string; map: string }> {
  const verbs = VERB_GROUPS[group];
  if (verbs === undefined) throw new Error(`no bundle group ${group}`);
  const { text, map } = await bundle(verbs, true);
  if (map === undefined) throw new Error('esbuild made no source map');
  return { text, map };
}

/** Writes `text` as `file` whole or not at all (bin/kiln may be starting meanwhile). */
function writeWhole(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, 'latin1');
  renameSync(tmp, file);
}

/** The bundle file bin/kiln starts for `verb` (NO_VERB: a command line without one). */
export function verbBundleName(verb: string): string {
  return `kiln-${verb}.cjs`;
}

/** Writes a group's bundle under each of its verbs' names (one file; a copy where links fail). */
function writeGroup(outDir: string, names: readonly string[], text: string): void {
  const [first, ...others] = names.map((v) => join(outDir, verbBundleName(v)));
  writeWhole(first as string, text);
  for (const name of others) {
    try {
      linkSync(first as string, name);
    } catch {
      copyFileSync(first as string, name);
    }
  }
}

/** The bundle bin/kiln asks to answer a `kiln build` from its replay record before it loads the build (cli/replay/). */
export const REPLAY_BUNDLE = 'kiln-build-replay.cjs';

/** The replay's bundle: replayBuild.ts alone, its function exported for bin/kiln's require(). */
async function replayBundle(): Promise<string> {
  const result = await build({ ...common, entryPoints: [join(repoRoot, 'engine', 'cli', 'replay', 'replayBuild.ts')], outfile: REPLAY_BUNDLE });
  const file = (result.outputFiles ?? []).find((f) => f.path.endsWith('.cjs'));
  if (file === undefined) throw new Error('esbuild made no replay bundle');
  return file.text;
}

export async function makeBundles(outDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const groups = Object.entries(VERB_GROUPS);
  const [replay, whole, ...own] = await Promise.all([replayBundle(), bundle(undefined), ...groups.map(([, verbs]) => bundle(verbs))]);
  const wholeText = stamped(wrappedBundle((whole as { text: string }).text));
  writeWhole(join(outDir, 'kiln.cjs'), wholeText);
  writeWhole(join(outDir, REPLAY_BUNDLE), stamped(wrappedBundle(replay as string), bundleId(wholeText)));
  groups.forEach(([name, verbs], i) => {
    const b = own[i] as { text: string; inputs: string[] };
    // A verb whose module is not ./VERB.js would be left out of its own bundle: refuse that.
    const missing = verbs.filter((v) => !(v in VERBS) || !b.inputs.includes(`engine/cli/${v}.ts`));
    if (missing.length > 0) throw new Error(`the ${name} bundle lacks ${missing.join(', ')}: a verb in VERB_GROUPS must be in the verb table, loaded from ./VERB.js`);
    writeGroup(outDir, name === NO_VERB ? [NO_VERB] : verbs, stamped(wrappedBundle(b.text), bundleId(wholeText)));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await makeBundles(resolve(process.argv[2] ?? join(repoRoot, 'dist', 'bundle')));
}
