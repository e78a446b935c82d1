/**
 * What kiln loads on first use rather than at start-up, all in this one file: Node's built-in
 * modules that are costly to load, and kiln's own heavy modules that a common command can do
 * without. Besides the verb table (engine/cli/verbs.ts, which loads a verb's modules when it
 * runs), nothing else loads late: every other module is imported at the top of the file that
 * uses it, so a file's header says what it uses. Each entry costs milliseconds of a command's
 * start-up that a cached rebuild, `kiln images` or `kiln run` would otherwise pay (measured
 * under a CPU profile of a cached rebuild); a test keeps the built-ins out of those commands
 * (test/unit/engine/lateLoading.test.ts). The grammar, which imports nothing of engine/, loads its one
 * costly built-in itself: node:net, for an EXPOSE that names a host IP (grammar/ports.ts).
 */
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

let childProcess: typeof import('node:child_process') | undefined;
let zlib: typeof import('node:zlib') | undefined;
let tls: typeof import('node:tls') | undefined;

/** node:child_process, which brings net and dgram: the few helper programs kiln runs. */
export function nodeChildProcess(): typeof import('node:child_process') {
  return (childProcess ??= requireBuiltin('node:child_process') as typeof import('node:child_process'));
}

/** node:zlib: compressed layers only (a registry's, or a gzipped archive's). */
export function nodeZlib(): typeof import('node:zlib') {
  return (zlib ??= requireBuiltin('node:zlib') as typeof import('node:zlib'));
}

/** node:tls: only to add a user's certificate authorities to the root ones. */
export function nodeTls(): typeof import('node:tls') {
  return (tls ??= requireBuiltin('node:tls') as typeof import('node:tls'));
}

/**
 * The Dockerfile parser (Chevrotain and lodash: ~20 ms to load) and the instruction layer:
 * a build whose Dockerfile text this store has parsed before reads the parse cache instead.
 */
export async function dockerfileGrammar(): Promise<typeof import('../grammar/parser.js') & typeof import('../grammar/instructions.js')> {
  const [parser, instructions] = await Promise.all([import('../grammar/parser.js'), import('../grammar/instructions.js')]);
  return { ...parser, ...instructions };
}

/** The build checks (BuildKit's Dockerfile rules): their findings are cached like the parse. */
export function buildChecks(): Promise<typeof import('./plan/checks/checkRecipe.js')> {
  return import('./plan/checks/checkRecipe.js');
}

/** Unpacking a layer (tar-stream, decompression, streams): only when a snapshot is missing. */
export function layerExtraction(): Promise<typeof import('./layer/extract.js')> {
  return import('./layer/extract.js');
}

/** The step executor (COPY, ADD, RUN and what they use): only when a step misses the cache. */
export function stepExecutor(): Promise<typeof import('./steps/executor.js')> {
  return import('./steps/executor.js');
}

/** Writing a layer (the tar writer, its headers): only when a step made new files. */
export function layerWriter(): Promise<typeof import('./layer/tarWriter.js')> {
  return import('./layer/tarWriter.js');
}

/** Re-running kiln in a user namespace of its own (rootless): never as root. */
export async function rootlessReexecution(): Promise<typeof import('./runtime/ownUserNamespace.js') & typeof import('./runtime/userNamespace.js')> {
  const [own, ids] = await Promise.all([import('./runtime/ownUserNamespace.js'), import('./runtime/userNamespace.js')]);
  return { ...own, ...ids };
}

/** Running a container (namespaces, mounts, cgroups, networks, seccomp): a RUN step that misses. */
export function containerRuntime(): Promise<typeof import('./runtime/container.js')> {
  return import('./runtime/container.js');
}

/** The registry client: a build's base image to pull, and --push. */
export async function registryTransfer(): Promise<typeof import('./registry/pull.js') & typeof import('./registry/push.js')> {
  const [pull, push] = await Promise.all([import('./registry/pull.js'), import('./registry/push.js')]);
  return { ...pull, ...push };
}

/** A build's --cache-from and --cache-to (the registry client with the cache's exchange). */
export function buildCacheExchange(): Promise<typeof import('./cli/buildCacheExchange.js')> {
  return import('./cli/buildCacheExchange.js');
}

/** Writing an image out of the store (--output): an archive, or its files in a directory. */
export async function imageOutput(): Promise<typeof import('./archive/archiveFile.js') & typeof import('./steps/rootfsView.js')> {
  const [archive, view] = await Promise.all([import('./archive/archiveFile.js'), import('./steps/rootfsView.js')]);
  return { ...archive, ...view };
}

/** The build report (--report): its recorder and page writer. */
export function buildReport(): Promise<typeof import('./report/buildReportSession.js')> {
  return import('./report/buildReportSession.js');
}

/**
 * Entering the namespaces a verb's spec asks for (its own mount namespace; rootless, kiln's own
 * user namespace): the dispatcher loads this for such a verb only, never for --help or --version.
 */
export async function verbNamespaces(): Promise<typeof import('./runtime/ownMountNamespace.js') & typeof import('./cli/isolationChoice.js')> {
  const [mounts, isolation] = await Promise.all([import('./runtime/ownMountNamespace.js'), import('./cli/isolationChoice.js')]);
  return { ...mounts, ...isolation };
}
