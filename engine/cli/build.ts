/** `kiln build`: a Dockerfile recipe and its context in, an image in the store (and/or a file) out. */
import { writeStdout } from '../host/standardStreams.js';
import { nodeCrypto } from '../host/nodeCrypto.js';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { usageError, type CommandSpec, type ParsedArgs } from './args.js';
import { KilnError } from '../errors/kilnError.js';
import { DockerfileError } from './report.js';
import type { Recipe, StageInstruction } from '../../grammar/recipe.js';
import { formatPlatform } from '../image/platform.js';
import { checkInputsKey } from '../plan/checks/checkInputsKey.js';
import { build, checkBuild, type BuildOptions } from '../build.js';
import { BuildArgError, buildArgEpoch, parseBuildArgs, type BuildArgs } from '../plan/buildArgs.js';
import { createProgress, PROGRESS_MODES, type Progress } from '../progress/progress.js';
import { fullReference, parseTagReference, type ImageReference } from '../image/reference.js';
import { INSECURE_REGISTRY_FLAG, insecureRegistries } from './registryFlags.js';
import type { Dockerfile } from '../../grammar/ast.js';
import { ParseError } from '../../grammar/parseError.js';
import { canOwnFiles, privilege } from '../host/privilege.js';
import { isolationReason, KERNEL_REFUSED_EXIT, resolveIsolation } from '../runtime/isolation.js';
import { parseSnapshotter } from '../steps/snapshotter.js';
import { findProot } from '../runtime/tracedRoot.js';
import { parseRegistryCacheSpec } from '../registry/cacheSpec.js';
import { loadDockerfile } from '../context/dockerfileSource.js';
import { shellExpander } from '../plan/shellExpander.js';
import { shortForm } from '../plan/checks/findings.js';
import type { ImageRecord, Store } from '../store/store.js';
import type { NetworkNamespacePool } from '../runtime/network/namespacePool.js';
import { openStore } from './openStore.js';
import { sourceDateEpochFromEnv } from '../layer/sourceDateEpoch.js';
import { cachedParse } from '../plan/parsedRecipe.js';
import { loadHasher } from '../../cache/hasher.js';
import { BuildCache } from '../schedule/cachedStep.js';
import { interruptSignal } from '../schedule/scheduler.js';
import { causeInMessage, makeOutputDir, refusal } from '../errors/refusal.js';
import { checkReportText } from './checkReport.js';
import { ReplayRecorder } from './replay/keepReplay.js';
import { runningWholeBundleId } from './bundling/bundleIdentity.js';
import { buildCacheExchange, buildChecks, buildReport, containerRuntime, dockerfileGrammar, imageOutput, nodeChildProcess, registryTransfer } from '../lateLoading.js';

export const spec: CommandSpec = {
  name: 'build',
  ownUserNamespace: 'required',
  ownMountNamespace: true,
  usage: '[OPTIONS] PATH | -',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'tag', short: 't', kind: 'list', valueName: 'list', description: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'file', short: 'f', kind: 'string', valueName: 'string', description: 'Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads standard input)' },
    { name: 'build-arg', kind: 'list', valueName: 'list', description: 'Set build-time variables' },
    { name: 'target', kind: 'string', valueName: 'string', description: 'Set the target build stage to build' },
    { name: 'no-cache', kind: 'bool', description: 'Do not use cache when building the image' },
    { name: 'no-cache-filter', kind: 'list', valueName: 'stringArray', description: 'Do not cache specified stages' },
    { name: 'explain', kind: 'bool', description: 'Say for every step whether it hit the cache, and why it missed' },
    { name: 'check', kind: 'bool', description: 'Run the build checks (BuildKit\'s Dockerfile rules) and build nothing; exit 1 when one finds something' },
    { name: 'jobs', kind: 'string', valueName: 'int', description: 'Most steps run at the same time (default: sized to the machine)' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the build output and print image ID on success' },
    { name: 'output', short: 'o', kind: 'list', valueName: 'stringArray', description: 'Output destination (type=docker,dest=FILE | type=oci,dest=FILE | type=local,dest=DIR)' },
    { name: 'build-context', kind: 'list', valueName: 'stringArray', description: 'Additional build contexts (e.g., name=path or name=docker-image://ref)' },
    { name: 'secret', kind: 'list', valueName: 'stringArray', description: 'Secret to expose to the build (format: "id=mysecret,src=/local/secret")' },
    { name: 'platform', kind: 'string', valueName: 'string', description: 'Set target platform for build' },
    { name: 'progress', kind: 'string', valueName: 'string', description: 'Set type of progress output (auto, plain, tty, json, quiet)' },
    { name: 'push', kind: 'bool', description: 'Push every -t name to its registry after the build' },
    { name: 'cache-to', kind: 'list', valueName: 'stringArray', description: 'Cache export destination (type=registry,ref=REF[,mode=min|max])' },
    { name: 'cache-from', kind: 'list', valueName: 'stringArray', description: 'Cache import source (type=registry,ref=REF, or REF)' },
    INSECURE_REGISTRY_FLAG,
    { name: 'allow', kind: 'list', valueName: 'list', description: 'Allow extra privileged entitlement (e.g. "security.insecure" for RUN --security=insecure)' },
    { name: 'report', kind: 'string', valueName: 'file', description: 'Write a report of the build (stage graph, timeline, cache verdicts) to FILE.html or FILE.json, also when it fails' },
    { name: 'isolation', kind: 'string', valueName: 'string', description: 'How RUN steps are isolated: auto (default; also KILN_ISOLATION), namespaces, rootless or chroot' },
    { name: 'snapshotter', kind: 'string', valueName: 'string', description: 'How stage roots are kept: auto (default; also KILN_SNAPSHOTTER), overlay or copy' },
  ],
};

function keyValue(command: string, flag: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(command, `invalid ${flag} "${text}": expected KEY=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

function csv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) m.set(part.trim(), '');
    else m.set(part.slice(0, eq).trim(), part.slice(eq + 1));
  }
  return m;
}

export interface OutputSpec { type: 'docker' | 'oci' | 'local'; dest: string }

export function parseOutput(text: string): OutputSpec {
  const m = csv(text);
  const type = m.get('type') ?? (m.size === 1 && !text.includes('=') ? 'local' : undefined);
  const dest = m.get('dest') ?? (type === 'local' && !text.includes('=') ? text : undefined);
  if (type !== 'docker' && type !== 'oci' && type !== 'local') throw usageError('build', `invalid --output "${text}": type must be docker, oci or local`);
  if (dest === undefined || dest === '') throw usageError('build', `invalid --output "${text}": dest=PATH is required`);
  return { type, dest };
}

export function parseSecret(text: string): [string, string] {
  const m = csv(text);
  const id = m.get('id');
  const src = m.get('src') ?? m.get('source');
  if (!id || !src) throw usageError('build', `invalid --secret "${text}": expected id=ID,src=FILE`);
  return [id, resolve(src)];
}

/**
 * The flags checked, the recipe read, the progress view and the cache opened; then the build,
 * its tags, and what else it was asked for (outputs, report, cache export, push).
 */
export async function run(args: ParsedArgs): Promise<number> {
  const contextArg = args.positionals[0] as string;
  refuseWithoutFileOwners();
  const flags = parseBuildFlags(args);
  // Before anything is read or printed: a build that runs nothing is recorded for bin/kiln to answer next time.
  const replay = ReplayRecorder.start(args, contextArg);
  // Every build hashes (the parse cache's key first): the wasm hasher compiles off the main
  // thread meanwhile, while the Dockerfile is read and the store opened, instead of after (a
  // failure to load shows where the hasher is first awaited).
  loadHasher().catch(() => undefined);
  const input = await readRecipe(args, flags, contextArg);
  const { store, source } = input;
  replay?.noteStore(store.root);
  const view = await startProgress(args, flags, source.displayName, contextArg);
  const exchange = flags.cacheFrom.length + flags.cacheTo.length > 0 ? await buildCacheExchange() : undefined;
  // Records touched from here on are this build's: what --cache-to exports.
  const started = new Date();
  // Imported before the cache opens, so the build's lookups see the imported records.
  if (exchange && flags.cacheFrom.length > 0) await exchange.importBuildCaches(store, flags.cacheFrom, { insecureRegistries: flags.insecure });
  const cache = await openCache(args, flags, input, view);
  const interrupt = interruptSignal();
  const pulled = { any: false };
  const containers: RunContainers = { teardowns: [] };
  const buildOptions = await buildOptionsFor(args, flags, input, { cache, signal: interrupt.signal, view, pulled, containers });
  const close = async (): Promise<void> => {
    interrupt.dispose();
    // Everything is closed whatever a container's teardown met; what it met is reported after.
    const tornDown = await Promise.allSettled(containers.teardowns);
    await containers.pool?.close();
    await cache.close();
    await view.progress.close();
    if (input.fromStdin) await rm(input.contextDir, { recursive: true, force: true });
    for (const t of tornDown) if (t.status === 'rejected') throw t.reason;
  };
  if (flags.checkOnly) {
    try {
      return await reportCheckOnly(buildOptions, args.strings.get('file') ?? basename(source.displayName), source.text);
    } finally {
      await close();
    }
  }
  const record = await buildAndTag(buildOptions, flags.tags, view, close);
  await deliver(store, record, flags, view, exchange, started);
  replay?.finish({ storeRoot: store.root, image: record.id, records: cache.answeredFrom(), pulled: pulled.any, kiln: runningWholeBundleId() });
  return 0;
}

/**
 * Layers keep file owners (lchown) and stage views are overlay mounts: root of the host, or of
 * kiln's own user namespace (the CLI re-runs an unprivileged user's build there, see spec).
 * Without either, the layers' owners are kept in ledgers beside copied roots and RUN steps
 * are given the image's root by proot (runtime/tracedRoot.ts), which must be there.
 */
function refuseWithoutFileOwners(): void {
  if (canOwnFiles() || findProot() !== undefined) return;
  const uid = process.getuid?.() ?? 0;
  throw new KilnError('NEEDS_ROOT', `kiln build as uid ${uid} needs root, or a user namespace of its own, to give the layers' files their owners${isolationReason() !== '' ? `, and here there is ${isolationReason()}` : ''}, or else proot (Debian package proot) on PATH: run the job as root in its container (RUN steps then use chroot isolation), install proot, or give uid ${uid} an /etc/subuid and /etc/subgid range where the kernel allows user namespaces`, { exitCode: KERNEL_REFUSED_EXIT });
}

/** The recipe a build reads, the context it reads it from, and the store it builds into. */
interface RecipeInput {
  /** `kiln build -`: the Dockerfile comes on stdin and there is no context (an empty one). */
  fromStdin: boolean;
  contextDir: string;
  source: Awaited<ReturnType<typeof loadDockerfile>>;
  /** Parses Dockerfile text (the recipe's, or an ONBUILD trigger's) with the build's warnings. */
  parse: (text: string) => Promise<Recipe>;
  store: Store;
  recipe: Recipe;
}

/** The Dockerfile loaded and parsed: the parser (Chevrotain) runs only when its text is new to this store (see plan/parsedRecipe.ts). */
async function readRecipe(args: ParsedArgs, flags: BuildFlags, contextArg: string): Promise<RecipeInput> {
  const fromStdin = contextArg === '-';
  if (fromStdin && args.strings.get('file') === '-') throw usageError('build', 'cannot read both the context and the Dockerfile from standard input');
  const contextDir = fromStdin ? await mkdtemp(join(tmpdir(), 'kiln-empty-context-')) : contextArg;
  const source = await loadDockerfile({ contextDir, file: fromStdin ? '-' : args.strings.get('file') });
  const warnBefore = !flags.quiet && !flags.checkOnly && args.strings.get('progress') !== 'json';
  const parse = (text: string): Promise<Recipe> => parseRecipe(text, source, warnBefore ? flags.buildArgs : undefined);
  const store = await openStore();
  const recipe = await cachedParse(store.root, source.text, () => parse(source.text)).catch(async (error: unknown) => {
    await reportParseFailure(args, flags, source.displayName, contextArg, store, error);
    throw error;
  });
  return { fromStdin, contextDir, source, parse, store, recipe };
}

type BuildView = Awaited<ReturnType<typeof startProgress>>;

/**
 * What the build's RUN containers share and leave: the network namespaces they take turns in
 * (made with the first step that needs one, released when the build ends), and what is left of
 * each once its layer is taken (its cgroup, its state dir), removed behind the next steps and
 * waited for before the build ends.
 */
interface RunContainers { pool?: NetworkNamespacePool; teardowns: Promise<void>[] }

function openCache(args: ParsedArgs, flags: BuildFlags, input: RecipeInput, view: BuildView): Promise<BuildCache> {
  const { store, contextDir, source, recipe } = input;
  return BuildCache.open({
    store, contextDir, ignorePatterns: source.ignorePatterns, dockerfileName: source.displayName, progress: view.progress,
    noCache: args.bools.has('no-cache'), noCacheFilter: args.lists.get('no-cache-filter') ?? [], explain: args.bools.has('explain'),
    escape: recipe.escape, ...(flags.sde !== undefined ? { sourceDateEpoch: flags.sde } : {}),
    ...(view.report ? { onVerdict: view.report.recorder.verdict } : {}),
  });
}

/** What the build is handed: the recipe, the flags' values, the cache, and how it pulls, runs, checks and shows progress. */
async function buildOptionsFor(args: ParsedArgs, flags: BuildFlags, input: RecipeInput, run: { cache: BuildCache; signal: AbortSignal; view: BuildView; pulled: { any: boolean }; containers: RunContainers }): Promise<BuildOptions> {
  const { store, recipe, source, contextDir, parse } = input;
  const { sde, jobs, tags, buildArgs } = flags;
  const { progress, report } = run.view;
  const parseTrigger = async (text: string): Promise<StageInstruction[]> => (await parse(`FROM scratch\n${text}`)).stages[0]?.instructions ?? [];
  return {
    cache: run.cache, signal: run.signal, ...(jobs !== undefined ? { jobs } : {}),
    store, recipe, dockerfileName: source.displayName, contextDir, ignorePatterns: source.ignorePatterns,
    buildArgs, ...(args.strings.has('target') ? { target: args.strings.get('target') as string } : {}),
    namedContexts: flags.namedContexts, secrets: flags.secrets, entitlements: entitlementsOf(args.lists.get('allow') ?? []), ...(args.strings.has('platform') ? { platform: args.strings.get('platform') as string } : {}),
    ...(sde !== undefined ? { sourceDateEpoch: sde } : {}),
    ...(tags[0] !== undefined ? { likelyImageId: await store.taggedId(tags[0]) } : {}),
    progress, expander: shellExpander(recipe.escape), ...(report ? { observer: report.recorder } : {}), snapshotter: flags.snapshotter, isolation: resolveIsolation,
    runner: async (s, io) => {
      const startDone = hasherLoad.starting();
      try {
        const runtime = await containerRuntime();
        const started = { ...io, onStart: startDone };
        const teardownBehind = (rest: Promise<void>): void => {
          rest.catch(() => undefined); // reported when the build ends, not as an unhandled rejection meanwhile
          run.containers.teardowns.push(rest);
        };
        if ((await resolveIsolation()) === 'chroot') return await runtime.runContainer({ ...s, isolation: 'chroot', teardownBehind }, started);
        run.containers.pool ??= new runtime.NetworkNamespacePool();
        return await runtime.runContainer({ ...s, networkPool: run.containers.pool, teardownBehind }, started);
      } finally {
        startDone(); // a start that failed
      }
    },
    parseTrigger, pull: pullFor(store, flags.insecure, run.pulled), checks: checksFor(store, source.text, recipe, parseTrigger),
    sourceSizes: { dockerfile: Buffer.byteLength(source.text), dockerignore: source.ignoreBytes },
  };
}

/**
 * A RUN step's layer is digested with node:crypto as soon as its command exits, and loading
 * node:crypto takes about 6 ms of the main thread here (kiln loads it on first use: a cached
 * rebuild never needs it). While steps' commands run the main thread only waits, so it is loaded
 * then, off the path from a command's exit to the next step: once no container is still starting
 * (parallel stages' steps start one after another, and the last would wait for it).
 */
const hasherLoad = {
  underway: 0,
  /** A container begins to start; call what this returns once its command runs, or its start failed. */
  starting(): () => void {
    this.underway++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.underway === 0) setImmediate(() => { nodeCrypto(); });
    };
  },
};

/** Builds the image and gives it every -t; a build that fails still writes the --report asked for. */
async function buildAndTag(options: BuildOptions, tags: readonly ImageReference[], view: BuildView, close: () => Promise<void>): Promise<ImageRecord> {
  let failure: { error: unknown } | undefined;
  try {
    const result = await build(options);
    for (const t of tags) await options.store.tag(result.record.id, t);
    showExport(view.progress, result.record.id, tags);
    return result.record;
  } catch (error) {
    failure = { error };
    throw error;
  } finally {
    await close();
    if (failure) await view.report?.write(options.store, failure);
  }
}

/** What the build was asked for besides the image in the store: outputs, the report, the cache export, the push, the ID (-q). */
async function deliver(store: Store, record: ImageRecord, flags: BuildFlags, view: BuildView, exchange: Awaited<ReturnType<typeof buildCacheExchange>> | undefined, started: Date): Promise<void> {
  for (const out of flags.outputs) await writeOutput(store, record, flags.tags, out);
  await view.report?.write(store, { record });
  if (exchange) for (const to of flags.cacheTo) await exchange.exportBuildCache(store, to, started, { insecureRegistries: flags.insecure });
  if (flags.push) await pushTags(store, record.id, flags);
  if (flags.quiet) writeStdout(`${record.id}\n`);
}

/**
 * A Dockerfile that does not parse still gets the --report CI asked for: no stages, the parse
 * error. A report that cannot be written leaves the parse error the one that counts.
 */
async function reportParseFailure(args: ParsedArgs, flags: BuildFlags, dockerfile: string, context: string, store: Store, error: unknown): Promise<void> {
  if (!args.strings.has('report')) return;
  try {
    const { progress, report } = await startProgress(args, { ...flags, quiet: true }, dockerfile, context);
    await progress.close();
    // The page shows the error as the terminal does: where in the Dockerfile, then what.
    const shown = error instanceof DockerfileError ? new Error(`${dockerfile}:${error.parse.line}:${error.parse.column}: ${error.message}`) : error;
    await report?.write(store, { error: shown });
  } catch {
    // The report's own name was refused: the parse error is still what the user sees.
  }
}

/**
 * The build's progress view (`--progress`; quiet with -q, and with --check, which prints its
 * report only: a progress view of a build that builds nothing would be noise), and its --report.
 */
async function startProgress(args: ParsedArgs, flags: BuildFlags, dockerfile: string, context: string) {
  const mode = flags.quiet || flags.checkOnly ? 'quiet' : (args.strings.get('progress') ?? 'auto');
  if (!(PROGRESS_MODES as readonly string[]).includes(mode)) throw usageError('build', `invalid --progress "${mode}"`);
  const progress = createProgress(mode as Parameters<typeof createProgress>[0]);
  const reportFile = args.strings.get('report');
  const report = reportFile === undefined ? undefined : (await buildReport()).startBuildReport(reportFile, progress, {
    dockerfile, context, tags: flags.tagTexts, namedContexts: new Set([...flags.namedContexts].filter(([, v]) => !v.startsWith('docker-image://')).map(([k]) => k)),
    ...(args.strings.has('target') ? { target: args.strings.get('target') as string } : {}),
  });
  return { progress, report };
}

/** The flags of `kiln build`, parsed and checked before anything runs: a typo costs no build. */
interface BuildFlags {
  quiet: boolean;
  checkOnly: boolean;
  snapshotter: ReturnType<typeof parseSnapshotter>;
  buildArgs: BuildArgs;
  namedContexts: Map<string, string>;
  secrets: Map<string, string>;
  outputs: OutputSpec[];
  /** Every -t as given, and parsed: `-t ok -t 'Bad Tag'` builds nothing. */
  tagTexts: string[];
  tags: ImageReference[];
  push: boolean;
  insecure: ReturnType<typeof insecureRegistries>;
  cacheFrom: ReturnType<typeof parseRegistryCacheSpec>[];
  cacheTo: ReturnType<typeof parseRegistryCacheSpec>[];
  /** SOURCE_DATE_EPOCH: a build arg, else the environment's. */
  sde: number | undefined;
  jobs: number | undefined;
}

function parseBuildFlags(args: ParsedArgs): BuildFlags {
  const snapshotterFlag = args.strings.get('snapshotter');
  const snapshotter = snapshotterFlag !== undefined ? parseSnapshotter(snapshotterFlag, '--snapshotter') : parseSnapshotter(process.env.KILN_SNAPSHOTTER, 'KILN_SNAPSHOTTER');
  let buildArgs: BuildArgs;
  try { buildArgs = parseBuildArgs(args.lists.get('build-arg') ?? []); } catch (e) { throw e instanceof BuildArgError ? usageError('build', e.message) : e; }
  const namedContexts = new Map((args.lists.get('build-context') ?? []).map((t) => keyValue('build', '--build-context', t)));
  const secrets = new Map((args.lists.get('secret') ?? []).map(parseSecret));
  const outputs = (args.lists.get('output') ?? []).map(parseOutput);
  const tagTexts = args.lists.get('tag') ?? [];
  const tags = tagTexts.map(parseTagReference);
  const push = args.bools.has('push');
  if (push && tags.length === 0) throw usageError('build', '--push needs at least one -t NAME to push to');
  const insecure = insecureRegistries(args);
  const cacheFrom = (args.lists.get('cache-from') ?? []).map((t) => parseRegistryCacheSpec('--cache-from', t));
  const cacheTo = (args.lists.get('cache-to') ?? []).map((t) => parseRegistryCacheSpec('--cache-to', t));
  const sde = buildArgEpoch(buildArgs) ?? sourceDateEpochFromEnv();
  if (sde !== undefined && !Number.isInteger(sde)) throw usageError('build', 'SOURCE_DATE_EPOCH must be a whole number of seconds');
  const jobs = parseJobs(args.strings.get('jobs'));
  return { quiet: args.bools.has('quiet'), checkOnly: args.bools.has('check'), snapshotter, buildArgs, namedContexts, secrets, outputs, tagTexts, tags, push, insecure, cacheFrom, cacheTo, sde, jobs };
}

function parseJobs(text: string | undefined): number | undefined {
  const jobs = text === undefined ? undefined : Number(text);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw usageError('build', `invalid --jobs "${text}": expected a whole number of at least 1`);
  return jobs;
}

/**
 * Parses Dockerfile text (the recipe's, or `FROM scratch` and an ONBUILD trigger). A syntax error
 * is located in the Dockerfile; with `warnWith`, the checks of the lines before it are shown first.
 */
async function parseRecipe(text: string, source: { text: string; displayName: string }, warnWith: BuildArgs | undefined): Promise<Recipe> {
  const { parseDockerfile, toRecipe } = await dockerfileGrammar();
  let df;
  try {
    df = parseDockerfile(text);
    return toRecipe(df);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    if (df && text === source.text && warnWith !== undefined) await warnBeforeInvalidLine(df, e.line, warnWith);
    throw new DockerfileError(source.displayName, e);
  }
}

/** A base image missing from the store is pulled (on the stage's platform). */
function pullFor(store: Store, insecure: ReturnType<typeof insecureRegistries>, pulled: { any: boolean }): NonNullable<BuildOptions['pull']> {
  return async (ref, platform) => {
    pulled.any = true;
    const { pullImage } = await registryTransfer();
    try {
      return await pullImage(store, ref, { platform: formatPlatform(platform), insecureRegistries: insecure });
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      throw new KilnError('IMAGE_NOT_FOUND', `${ref}: image not found in the store, and pulling it failed: ${e.message}`, { cause: e });
    }
  };
}

/** The build checks, their findings remembered like the parse: a rebuild with the same inputs only reads them. */
function checksFor(store: Store, text: string, recipe: Recipe, parseTrigger: (text: string) => Promise<StageInstruction[]>): NonNullable<BuildOptions['checks']> {
  return (inputs) => cachedParse(store.root, `${text}\0checks\0${checkInputsKey(inputs)}`, async () => {
    const { checkRecipe, inheritedTriggers } = await buildChecks();
    // A trigger that does not parse is left to the step that runs it, which reports it.
    const texts = [...new Set([...inheritedTriggers(recipe, inputs).values()].flat())];
    const parsed = new Map(await Promise.all(texts.map(async (t) => [t, await parseTrigger(t).catch(() => [])] as const)));
    return checkRecipe(recipe, inputs, (t) => parsed.get(t) ?? []);
  });
}

/** `--push`: every -t name to its registry. */
async function pushTags(store: Store, id: string, flags: BuildFlags): Promise<void> {
  const { pushImage } = await registryTransfer();
  for (const [i, t] of flags.tags.entries()) {
    const pushed = await pushImage(store, t, { source: id, insecureRegistries: flags.insecure });
    if (!flags.quiet) process.stderr.write(`pushed ${flags.tagTexts[i]}: digest: ${pushed.digest} size: ${pushed.size}\n`);
  }
}

/** An invalid instruction stops the build before it starts; the checks of the lines before it are still shown, as BuildKit shows them. */
async function warnBeforeInvalidLine(df: Dockerfile, line: number, buildArgs: BuildArgs): Promise<void> {
  const { checkBeforeInvalidLine } = await buildChecks();
  for (const f of checkBeforeInvalidLine(df, line, buildArgs)) process.stderr.write(`WARN: ${shortForm(f)}\n`);
}

/** BuildKit's `exporting to image` step: the image written and each name it was given. */
function showExport(progress: Progress, id: string, tags: readonly ImageReference[]): void {
  const step = progress.step('exporting to image', 'internal');
  progress.started(step);
  progress.note(step, 'exporting layers done');
  progress.note(step, `writing image ${id} done`);
  for (const t of tags) progress.note(step, `naming to ${fullReference(t)} done`);
  progress.done(step);
}

/**
 * `kiln build --check`: the report on standard output as `docker buildx build --check` prints it,
 * exit status 1 when it found something; with `error=true` the build's error follows.
 */
async function reportCheckOnly(options: BuildOptions, file: string, text: string): Promise<number> {
  const { report, failure } = await checkBuild(options);
  // As buildx: the findings, then what stopped the check (a failed build, error=true).
  if (report.findings.length > 0 || (failure === undefined && report.error === undefined)) process.stdout.write(checkReportText(report.findings, file, text));
  if (failure !== undefined) throw failure;
  if (report.error !== undefined) throw new KilnError('CHECKS_FAILED', report.error, { location: { file } });
  return report.findings.length > 0 ? 1 : 0;
}

async function writeOutput(store: Store, record: ImageRecord, tags: readonly ImageReference[], out: OutputSpec): Promise<void> {
  const { RootfsView, writeArchiveFile } = await imageOutput();
  if (out.type === 'local') {
    const layers = record.config.rootfs.diff_ids.map((diffId) => ({ diffId }));
    const view = await RootfsView.open(layers, { snapshotDir: (d) => store.snapshotDir(d), scratchDir: () => store.scratchDir('output') });
    try {
      await makeOutputDir(out.dest);
      // cp -a keeps owners, modes, times, links and special files (fs.cp drops owners).
      // A rootless build's output belongs to the user who asked for it (as docker's client writes
      // it): in kiln's user namespace, in-image owners would be subordinate ids the user cannot
      // remove. Root keeps the image's owners.
      const owners = privilege() === 'namespace-root' ? ['--no-preserve=ownership'] : [];
      try {
        await promisify(nodeChildProcess().execFile)('cp', ['-a', ...owners, '--', `${view.root}/.`, out.dest]);
      } catch (err) {
        const stderr = String((err as { stderr?: unknown }).stderr ?? '');
        const named = refusal(causeInMessage(stderr), { place: { kind: 'output', path: out.dest }, what: "the image's files" });
        throw named instanceof KilnError ? named : new KilnError('OUTPUT_FAILED', `copying the image's files failed: ${stderr.trim().split('\n')[0] ?? ''}`, { location: { file: out.dest } });
      }
    } finally {
      await view.close();
    }
    return;
  }
  const refreshed = (await store.getImage(record.id)) ?? record;
  await writeArchiveFile(store, [{ image: refreshed, tags: tags.map(fullReference) }], out.dest, out.type);
}

/** `--allow` values as buildx takes them (comma lists too); RUN --network=host needs no grant here. */
function entitlementsOf(values: readonly string[]): string[] {
  const out = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  for (const e of out) {
    if (e !== 'security.insecure' && e !== 'network.host') throw new KilnError('USAGE', `invalid entitlement: ${e} (kiln knows security.insecure and network.host)`, { exitCode: 1 });
  }
  return out;
}
