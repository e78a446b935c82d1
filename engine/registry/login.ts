/**
 * `kiln login`: check a user name and password against a registry before storing them, the
 * way docker login does (a Basic registry must accept them on /v2/; a Bearer registry's token
 * server must issue a token for them).
 */
import { KilnError } from '../errors/kilnError.js';
import { RegistryClient } from './client.js';
import type { Credentials } from './dockerConfig.js';
import { DOCKER_HUB_DOMAIN, normaliseRegistryHost } from './registryHost.js';

export async function verifyCredentials(server: string, creds: Credentials, opts: { insecureRegistries?: readonly string[] } = {}): Promise<string> {
  const domain = normaliseRegistryHost(server);
  const client = new RegistryClient(domain, domain, { ...opts, credentials: async () => creds });
  const response = await client.request('/v2/', { scopes: [] });
  await response.body?.cancel();
  if (response.ok) return domain === DOCKER_HUB_DOMAIN ? 'https://index.docker.io/v1/' : domain;
  throw new KilnError('LOGIN_FAILED', `login to ${domain} failed: the registry answered ${response.status}`);
}
