/**
 * Registry hosts: where a reference's domain is reached, and the spelling `kiln login` and
 * `--insecure-registry` key credentials and settings by. References themselves are parsed by
 * engine/image/reference.ts.
 */
import { KilnError } from '../errors/kilnError.js';
import { DOCKER_HUB_DOMAIN, LEGACY_HUB_DOMAIN } from '../image/reference.js';

export { DOCKER_HUB_DOMAIN };
/** Where Docker Hub's distribution API actually lives. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

/** Host:port the distribution API is reached at for a reference's domain. */
export function apiHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/** Normalises a registry name given to `kiln login`/`--insecure-registry` (a URL or a bare host). */
export function normaliseRegistryHost(server: string): string {
  let host = server.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.replace(/\/.*$/, '');
  if (host === '' ) throw new KilnError('INVALID_REGISTRY', `invalid registry address "${server}"`, { exitCode: 2 });
  if (host === LEGACY_HUB_DOMAIN || host === DOCKER_HUB_API_HOST) return DOCKER_HUB_DOMAIN;
  return host.toLowerCase();
}
