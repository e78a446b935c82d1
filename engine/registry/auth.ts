/**
 * Registry authentication: anonymous, Basic, and Bearer tokens obtained from the realm a
 * `WWW-Authenticate` challenge names (distribution's token spec). A token is asked for per
 * set of repository scopes (`repository:team/app:pull,push`) and reused until it expires.
 */
import { KilnError } from '../errors/kilnError.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { Credentials } from './dockerConfig.js';
import { fetchFollowingRedirects, type FetchFunction } from './redirects.js';

/** Looks up credentials for a registry host; undefined means anonymous. */
export type CredentialSource = (host: string) => Promise<Credentials | undefined>;

/** Tokens are dropped this long before their stated expiry, so a request never races it. */
const EXPIRY_MARGIN_MS = 5_000;
/** The token spec's default lifetime when the server states none. */
const DEFAULT_TOKEN_SECONDS = 60;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${actions.join(',')}`;
}

export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

export class RegistryAuth {
  /** The challenge a host answered with on its last 401; absent: no auth needed (yet). */
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  /** Token requests under way, so parallel layer transfers share one request per scope set. */
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly credentialCache = new Map<string, Promise<Credentials | undefined>>();

  constructor(
    private readonly credentials: CredentialSource,
    private readonly fetchImpl: FetchFunction = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers what a 401 said. Returns false when the header had no usable challenge. */
  learnChallenge(host: string, header: string | null): boolean {
    if (header === null) return false;
    const usable = parseChallenges(header).find((c) => c.scheme === 'bearer' || c.scheme === 'basic');
    if (!usable) return false;
    this.challenges.set(host, usable);
    return true;
  }

  challengeFor(host: string): Challenge | undefined {
    return this.challenges.get(host);
  }

  private creds(host: string): Promise<Credentials | undefined> {
    let p = this.credentialCache.get(host);
    if (!p) {
      p = this.credentials(host);
      this.credentialCache.set(host, p);
    }
    return p;
  }

  /** Forget a token the registry refused, so the next call asks for a fresh one. */
  invalidate(host: string, scopes: readonly string[]): void {
    this.tokens.delete(tokenKey(host, scopes));
  }

  /**
   * The Authorization header value for a request to `host` needing `scopes`, or undefined when
   * the host has not asked for authentication. `subject` names the image in errors.
   */
  async authorization(host: string, scopes: readonly string[], subject: string): Promise<string | undefined> {
    const challenge = this.challenges.get(host);
    if (!challenge) return undefined;
    const creds = await this.creds(host);
    if (challenge.scheme === 'basic') {
      if (!creds) throw unauthorized(host, subject, 'the registry asks for a user name and password');
      return basicAuthorization(creds);
    }
    const key = tokenKey(host, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    let request = this.pending.get(key);
    if (!request) {
      request = this.fetchToken(host, challenge, scopes, creds, subject).finally(() => this.pending.delete(key));
      this.pending.set(key, request);
    }
    const token = await request;
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  private async fetchToken(host: string, challenge: Challenge, scopes: readonly string[], creds: Credentials | undefined, subject: string): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (!realm) throw new KilnError('REGISTRY_AUTH', `${host} sent a Bearer challenge without a realm (while accessing ${subject})`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new KilnError('REGISTRY_AUTH', `${host} named an invalid token realm "${realm}" (while accessing ${subject})`);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (creds) url.searchParams.set('account', creds.username);
    const headers = new Headers({ accept: 'application/json' });
    if (creds) headers.set('authorization', basicAuthorization(creds));
    let response: Response;
    try {
      ({ response } = await fetchFollowingRedirects(url.toString(), { method: 'GET', headers }, this.fetchImpl));
    } catch (e) {
      throw new KilnError('REGISTRY_UNREACHABLE', `token server ${url.host} for ${host} is unreachable (while accessing ${subject}): ${describeNetworkError(e)}`, { cause: e });
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw unauthorized(host, subject, creds ? 'the token server refused the stored credentials' : 'the token server refused anonymous access');
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new KilnError('REGISTRY_AUTH', `token server ${url.host} answered ${response.status} for ${subject}${text ? `: ${text.slice(0, 200)}` : ''}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new KilnError('REGISTRY_AUTH', `token server ${url.host} sent a response that is not JSON (while accessing ${subject})`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') throw new KilnError('REGISTRY_AUTH', `token server ${url.host} sent no token (while accessing ${subject})`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
    // Trust our own clock for the start: a token server's clock may be skewed from ours.
    const start = Number.isFinite(issued) ? Math.min(issued, this.now()) : this.now();
    return { token, expiresAt: Math.max(start + seconds * 1000 - EXPIRY_MARGIN_MS, this.now() + 1000) };
  }
}

function tokenKey(host: string, scopes: readonly string[]): string {
  return `${host} ${[...scopes].sort().join(' ')}`;
}

export function unauthorized(host: string, subject: string, why: string): KilnError {
  return new KilnError('UNAUTHORIZED', `unauthorized: ${why} for ${subject} (log in with 'kiln login ${host}')`);
}

export function describeNetworkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return `${err?.message ?? 'error'}: ${cause.message}`;
  return err?.message ?? String(e);
}
