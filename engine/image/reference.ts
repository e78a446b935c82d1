/**
 * Image references, normalised the way docker does (distribution's `reference` package:
 * ParseNormalizedNamed + TagNameOnly): `busybox` is `docker.io/library/busybox:latest`,
 * `host:5000/a/b@sha256:…` pins a digest, and the familiar forms are the short ones docker
 * prints. The one parser for the store's tags, the archives and the registry.
 */
import { KilnError } from '../errors/kilnError.js';

export const DOCKER_HUB_DOMAIN = 'docker.io';
/** The old name of Docker Hub, still accepted in references and logins. */
export const LEGACY_HUB_DOMAIN = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';
const NAME_MAX_LENGTH = 255;

// The grammar, as distribution's reference/regexp.go states it.
const ALPHA_NUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHA_NUMERIC}(?:${SEPARATOR}${ALPHA_NUMERIC})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;

export interface ImageReference {
  /** Registry host[:port] as named in the reference, `docker.io` when none is given. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`, `team/app`. */
  readonly path: string;
  /** The tag, if given (or added by the default). */
  readonly tag?: string | undefined;
  /** `sha256:<hex>` when the reference pins a digest. */
  readonly digest?: string | undefined;
}

function invalid(text: string, why: string): KilnError {
  return new KilnError('INVALID_REFERENCE', `invalid reference format "${text}": ${why}`, { location: { file: text } });
}

/** Splits `name` into domain and path as docker's splitDockerDomain does. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const looksLikeHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  let domain = looksLikeHost ? first : DOCKER_HUB_DOMAIN;
  let path = looksLikeHost ? name.slice(slash + 1) : name;
  if (domain === LEGACY_HUB_DOMAIN) domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !path.includes('/')) path = `${OFFICIAL_NAMESPACE}/${path}`;
  return { domain, path };
}

/**
 * Parses and normalises a reference. Throws KilnError('INVALID_REFERENCE') naming the text.
 * Adds the `latest` tag when neither tag nor digest is given, unless `defaultTag: false`
 * (a name used as a filter, or a stored key that is about to get its own default).
 */
export function parseReference(text: string, opts: { defaultTag?: boolean } = {}): ImageReference {
  if (text === '') throw invalid(text, 'empty reference');
  if (text.trim() !== text || /\s/.test(text)) throw invalid(text, 'contains whitespace');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(text, `"${digest}" is not a valid digest`);
    if (digest.startsWith('sha256:') && !HEX64_RE.test(digest.slice(7))) throw invalid(text, 'a sha256 digest has 64 lowercase hex characters');
    if (!digest.startsWith('sha256:') && !digest.startsWith('sha512:')) throw invalid(text, `unsupported digest algorithm "${digest.split(':')[0]}"`);
  }
  let tag: string | undefined;
  // A tag follows the last colon, unless that colon belongs to a registry port (a slash after it).
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(text, `"${tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (rest === '') throw invalid(text, 'missing repository name');
  if (HEX64_RE.test(rest)) throw invalid(text, 'cannot specify 64-byte hexadecimal strings (that is an image ID, not a name)');
  const { domain, path } = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) throw invalid(text, `"${domain}" is not a valid registry host`);
  if (path.toLowerCase() !== path) throw invalid(text, 'repository name must be lowercase');
  if (!PATH_RE.test(path)) throw invalid(text, `"${path}" is not a valid repository name (lowercase letters, digits, separators . _ __ -, components joined by /)`);
  if (domain.length + 1 + path.length > NAME_MAX_LENGTH) throw invalid(text, `repository name must not be longer than ${NAME_MAX_LENGTH} characters`);
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
  return { domain, path, tag, digest };
}

/** Adds `latest` when neither tag nor digest is given (docker's TagNameOnly). */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** The same repository pinned to a digest (for pulling a platform manifest by digest). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return { domain: ref.domain, path: ref.path, tag: undefined, digest };
}

/** `docker.io/library/busybox`: the fully qualified repository name. */
export function fullName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:…` */
export function fullReference(ref: ImageReference): string {
  return `${fullName(ref)}${suffix(ref)}`;
}

/** `busybox`, `me/app`, `localhost:5000/app`: the name docker shows. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DOCKER_HUB_DOMAIN) return fullName(ref);
  return ref.path.startsWith(`${OFFICIAL_NAMESPACE}/`) && ref.path.split('/').length === 2 ? ref.path.slice(OFFICIAL_NAMESPACE.length + 1) : ref.path;
}

/** `busybox:latest`, `me/app:1`, `localhost:5000/x@sha256:…` */
export function familiarReference(ref: ImageReference): string {
  return `${familiarName(ref)}${suffix(ref)}`;
}

function suffix(ref: ImageReference): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * A name an image is given (`-t`, `kiln tag`): a reference with a tag (`latest` by default),
 * never a digest. Parsed once where the user gave it; the store keys it by its fullReference.
 */
export function parseTagReference(text: string): ImageReference {
  const ref = parseReference(text);
  if (ref.digest !== undefined) throw new KilnError('INVALID_REFERENCE', `"${text}": a digest reference cannot be used as a tag`, { location: { file: text } });
  return ref;
}

/** A tag as the store keys it: the full reference with a tag (`docker.io/library/busybox:latest`). */
export function normalizeTag(text: string): string {
  return fullReference(parseTagReference(text));
}

/** `docker.io/library/busybox:latest` as BuildKit prints a name in its progress; the text itself when it is no reference. */
export function displayReference(text: string): string {
  try {
    return fullReference(withDefaultTag(parseReference(text)));
  } catch {
    return text;
  }
}

/** The familiar form of a stored tag key (`busybox:latest`). */
export function familiarTag(storedTag: string): string {
  return familiarReference(parseReference(storedTag, { defaultTag: false }));
}
