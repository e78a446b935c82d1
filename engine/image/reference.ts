/**
 * Image references, normalised the way docker does (distribution/reference ParseNormalizedNamed):
 * `busybox` ≡ `docker.io/library/busybox:latest`; shown back in the familiar short form.
 */
import { KilnError } from '../errors.js';

export interface ImageReference {
  /** Registry host[:port], `docker.io` when none is given. */
  domain: string;
  /** Repository path, `library/busybox` for an official image. */
  path: string;
  tag?: string;
  /** `sha256:<hex>` when given as name@digest. */
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

function isDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/** Parses a reference; throws KilnError for a malformed one. Adds no default tag. */
export function parseReference(text: string): ImageReference {
  const bad = (why: string): KilnError => new KilnError('INVALID_REFERENCE', `invalid reference format "${text}": ${why}`, { location: { file: text } });
  if (text === '') throw bad('empty reference');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('bad digest');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('bad tag');
  }
  const parts = rest.split('/');
  let domain = DEFAULT_DOMAIN;
  if (parts.length > 1 && isDomain(parts[0] as string)) domain = parts.shift() as string;
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT.test(p))) {
    throw bad(rest !== rest.toLowerCase() ? 'repository name must be lowercase' : 'bad repository name');
  }
  if (domain === DEFAULT_DOMAIN && parts.length === 1) parts.unshift('library');
  const ref: ImageReference = { domain, path: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Adds `latest` when neither tag nor digest is given (docker's TagNameOnly). */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref;
}

/** `docker.io/library/busybox` */
export function fullName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:…` */
export function fullReference(ref: ImageReference): string {
  return `${fullName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** `busybox`, `me/app`, `localhost:5000/app`: the name docker shows. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  return ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice('library/'.length) : ref.path;
}

/** `busybox:latest` */
export function familiarReference(ref: ImageReference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** A tag as the store keys it: the full reference with a tag (`docker.io/library/busybox:latest`). */
export function normalizeTag(text: string): string {
  const ref = withDefaultTag(parseReference(text));
  if (ref.digest !== undefined) throw new KilnError('INVALID_REFERENCE', `"${text}": a digest reference cannot be used as a tag`, { location: { file: text } });
  return fullReference(ref);
}

/** The familiar form of a stored tag key (`busybox:latest`). */
export function familiarTag(storedTag: string): string {
  return familiarReference(parseReference(storedTag));
}
