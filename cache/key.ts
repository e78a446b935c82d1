/**
 * The cache key of one build step: a digest over everything that can change its result
 * and nothing that cannot. Like BuildKit's cache map: the parent's key, the step's
 * definition, what it sees of ARG/ENV, the platform, and for COPY/ADD a digest of the
 * selected sources' contents (never their mtimes).
 */
import { canonicalJson, type JsonValue } from './canonicalJson.js';
import { digestString, loadHasher } from './hasher.js';

export interface StepKeyParts {
  /** The previous step's key; for a stage's first step, the base image id (or "scratch"). */
  parent: string;
  /** The step's canonical definition after expansion (instruction kind and its fields). */
  definition: JsonValue;
  /** The environment the step sees. */
  env: Record<string, string>;
  /** ARGs in scope with their values (undefined: declared without a value). */
  args: Record<string, string | undefined>;
  platform: string;
  /** Digest of the selected sources, for COPY/ADD. */
  sources?: string;
  /** Keys of other stages' steps the step reads (COPY --from, RUN --mount=from). */
  inputs?: string[];
}

/**
 * Proxy variables never bust the cache (BuildKit strips them from the exec op's key):
 * the same build behind a different proxy makes the same layers.
 */
const PROXY_NAMES = new Set(['http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy']);

export function isProxyName(name: string): boolean {
  return PROXY_NAMES.has(name.toLowerCase());
}

/** ARGs as they enter a key: proxy variables removed. */
export function keyedArgs(args: Record<string, string | undefined>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(args)) if (!isProxyName(k)) out[k] = v ?? null;
  return out;
}

/** Environment as it enters a key: proxy variables that came in from build args are removed. */
export function keyedEnv(env: Record<string, string>, args: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    // A proxy variable the step sees only because a build arg carries it stays out; one
    // the Dockerfile sets with ENV is part of the image and stays in.
    if (isProxyName(k) && args[k] === v) continue;
    out[k] = v;
  }
  return out;
}

// v2: records of metadata steps hold no state (v1 records held the whole config).
// v3: escape and SOURCE_DATE_EPOCH in the definition, images by ID, and records made by a build
// that follows BuildKit in more places (empty layers, COPY/ONBUILD/HEALTHCHECK history).
const KEY_VERSION = 'kiln-step-key-v3';

/** The text a key hashes; exposed so tests and --explain can see what went in. */
export function stepKeyText(parts: StepKeyParts): string {
  return canonicalJson({
    v: KEY_VERSION,
    parent: parts.parent,
    definition: parts.definition,
    env: keyedEnv(parts.env, parts.args),
    args: keyedArgs(parts.args),
    platform: parts.platform,
    sources: parts.sources,
    inputs: parts.inputs,
  });
}

/** 32 hex characters. */
export async function stepKey(parts: StepKeyParts): Promise<string> {
  await loadHasher();
  return digestString(stepKeyText(parts));
}

/** The key a stage on scratch chains from. */
export function scratchBaseKey(platform: string): string {
  return `scratch ${platform}`;
}

/**
 * The key a stage on an image (or a named context's image) chains from: its config, which
 * names every layer by digest, so the same config is the same base. The hasher must be loaded.
 */
export function imageBaseKey(config: unknown): string {
  return `config ${digestString(canonicalJson(config))}`;
}

/** A key no other step has (ADD from a URL without --checksum): what follows it misses too. */
export function uncacheableKey(parent: string): string {
  return digestString(`${parent} uncacheable ${Math.random()} ${Date.now()}`);
}
