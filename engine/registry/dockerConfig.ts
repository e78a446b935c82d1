/**
 * Registry credentials in docker's own file, `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`): `{"auths": {"<server>": {"auth": base64("user:pass")}}}`. kiln reads
 * what `docker login` wrote and `kiln login` writes the same format, so either tool can use it.
 * Credential helpers (`credsStore`, `credHelpers`) run external programs; kiln does not call them
 * and says so when a server's credentials live only there.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { writeFileAtomic } from '../store/atomicFile.js';
import { DOCKER_HUB_DOMAIN, normaliseRegistryHost } from './registryHost.js';

/** docker keeps Docker Hub's credentials under its historic v1 index address. */
const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(dockerConfigDir(env), 'config.json');
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as DockerConfigFile;
  } catch (e) {
    throw new KilnError('DOCKER_CONFIG', `${path} is not valid JSON: ${(e as Error).message}`, { location: { file: path } });
  }
}

/** The key docker would use for a server in `auths`. */
export function configKey(server: string): string {
  const host = normaliseRegistryHost(server);
  return host === DOCKER_HUB_DOMAIN ? DOCKER_HUB_CONFIG_KEY : host;
}

function decodeEntry(entry: AuthEntry, key: string, path: string): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new KilnError('DOCKER_CONFIG', `${path}: the "auth" of "${key}" is not base64 of "user:password"`, { location: { file: path } });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** Credentials for a registry host (`docker.io`, `localhost:5000`), or undefined for anonymous. */
export async function readCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const path = dockerConfigPath(env);
  const config = await readConfig(path);
  const wanted = normaliseRegistryHost(host);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    let keyHost: string;
    try {
      keyHost = normaliseRegistryHost(key);
    } catch {
      continue;
    }
    if (keyHost !== wanted || entry === null || typeof entry !== 'object') continue;
    const creds = decodeEntry(entry, key, path);
    if (creds) return creds;
  }
  return undefined;
}

/** True when docker would ask a credential helper for this host (kiln does not run helpers). */
export async function usesCredentialHelper(host: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const config = await readConfig(dockerConfigPath(env));
  const key = configKey(host);
  return Boolean(config.credHelpers?.[key] ?? config.credHelpers?.[normaliseRegistryHost(host)] ?? config.credsStore);
}

/** Writes the file atomically with mode 0600 (it holds passwords), keeping every other key. */
async function writeConfig(path: string, dir: string, config: DockerConfigFile): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, JSON.stringify(config, null, '\t') + '\n', 0o600);
}

export async function storeCredentials(server: string, creds: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = dockerConfigPath(env);
  const config = await readConfig(path);
  const key = configKey(server);
  const auths = { ...(config.auths ?? {}) };
  // Drop other spellings of the same host so a later lookup cannot find a stale password.
  for (const k of Object.keys(auths)) {
    try {
      if (normaliseRegistryHost(k) === normaliseRegistryHost(server)) delete auths[k];
    } catch {
      /* keys kiln cannot read are left alone */
    }
  }
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeConfig(path, dockerConfigDir(env), { ...config, auths });
  return path;
}

/** Removes a server's credentials; false when there were none. */
export async function removeCredentials(server: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = dockerConfigPath(env);
  const config = await readConfig(path);
  const auths = { ...(config.auths ?? {}) };
  let removed = false;
  for (const k of Object.keys(auths)) {
    try {
      if (normaliseRegistryHost(k) === normaliseRegistryHost(server)) {
        delete auths[k];
        removed = true;
      }
    } catch {
      /* unreadable key: not ours to judge */
    }
  }
  if (removed) await writeConfig(path, dockerConfigDir(env), { ...config, auths });
  return removed;
}
