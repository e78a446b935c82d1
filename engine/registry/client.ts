/**
 * A small client for the OCI distribution API over Node's global fetch. One client talks to one
 * registry host; every request names the repository scopes it needs, the client answers 401
 * challenges (see auth.ts), follows redirects without leaking credentials (redirects.ts), and
 * turns transport failures into KilnErrors that name the image being worked on.
 * Plain http:// is used only for loopback hosts and hosts named with --insecure-registry.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KilnError } from '../errors/kilnError.js';
import { RegistryAuth, describeNetworkError, unauthorized, type CredentialSource } from './auth.js';
import { trustExtraCertificates } from './extraCertificates.js';
import { readCredentials } from './dockerConfig.js';
import { apiHost, normaliseRegistryHost } from './registryHost.js';
import { fetchFollowingRedirects, type FetchFunction } from './redirects.js';

export interface RegistryClientOptions {
  /** Hosts (host[:port]) that may be spoken to over plain HTTP, as docker's --insecure-registry. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialSource;
  fetchImpl?: FetchFunction;
  /** Shared between clients of one operation so tokens are reused. */
  auth?: RegistryAuth;
}

export interface RegistryRequest {
  method?: string;
  /** Repository scopes the request needs, e.g. `repository:team/app:pull`. */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** Only replayable bodies: a 401 answer is retried once with a fresh token. */
  body?: Buffer | string;
  /** Cancels the request and its response body (a sibling transfer failed). */
  signal?: AbortSignal;
}

export interface RegistryErrorDetail {
  code: string;
  message: string;
}

const USER_AGENT = 'kiln/0.1.0';

/** True for names that are this machine: docker treats 127.0.0.0/8 and localhost as insecure-ok. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '::1';
}

export class RegistryClient {
  readonly host: string;
  readonly auth: RegistryAuth;
  private origin: Promise<string> | undefined;
  private readonly fetchImpl: FetchFunction;
  private readonly allowHttp: boolean;

  /** `domain` as in a reference (`docker.io`, `127.0.0.1:5000`); `subject` names the image in errors. */
  constructor(domain: string, readonly subject: string, opts: RegistryClientOptions = {}) {
    this.host = apiHost(domain);
    trustExtraCertificates();
    this.fetchImpl = opts.fetchImpl ?? fetch;
    this.auth = opts.auth ?? new RegistryAuth(opts.credentials ?? ((h) => readCredentials(h)), this.fetchImpl);
    const insecure = new Set((opts.insecureRegistries ?? []).map((h) => normaliseRegistryHost(h)));
    this.allowHttp = isLoopbackHost(this.host) || insecure.has(normaliseRegistryHost(domain)) || insecure.has(this.host);
  }

  private unreachable(url: string, e: unknown): KilnError {
    return new KilnError('REGISTRY_UNREACHABLE', `registry ${this.host} is unreachable for ${this.subject}: ${describeNetworkError(e)} (${url})`, { cause: e });
  }

  /**
   * Picks https, or http for an insecure-ok host whose https fails, by GET /v2/ (the version
   * check docker does first); a 401 there teaches the client the host's challenge.
   */
  private resolveOrigin(): Promise<string> {
    if (!this.origin) {
      this.origin = (async () => {
        const candidates = this.allowHttp ? [`https://${this.host}`, `http://${this.host}`] : [`https://${this.host}`];
        let lastError: unknown;
        let failedUrl = `${candidates[candidates.length - 1]}/v2/`;
        for (const origin of candidates) {
          try {
            const { response } = await fetchFollowingRedirects(`${origin}/v2/`, { method: 'GET', headers: { 'user-agent': USER_AGENT } }, this.fetchImpl);
            await response.body?.cancel();
            // A TLS server answering plain HTTP (400): the registry speaks https, and what went
            // wrong is what https said (an untrusted certificate, say), not this.
            if (origin.startsWith('http:') && response.status === 400 && lastError !== undefined) break;
            if (response.status === 401) this.auth.learnChallenge(this.host, response.headers.get('www-authenticate'));
            return origin;
          } catch (e) {
            lastError = e;
            failedUrl = `${origin}/v2/`;
          }
        }
        this.origin = undefined;
        throw this.unreachable(failedUrl, lastError);
      })();
    }
    return this.origin;
  }

  /** An absolute URL for an API path (`/v2/...`) or a Location the registry returned. */
  async url(pathOrLocation: string): Promise<string> {
    const origin = await this.resolveOrigin();
    return new URL(pathOrLocation, `${origin}/`).toString();
  }

  async request(pathOrLocation: string, req: RegistryRequest): Promise<Response> {
    const url = await this.url(pathOrLocation);
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers({ 'user-agent': USER_AGENT, 'accept-encoding': 'identity', ...(req.headers ?? {}) });
      const authorization = await this.auth.authorization(this.host, req.scopes, this.subject);
      if (authorization) headers.set('authorization', authorization);
      let response: Response;
      try {
        ({ response } = await fetchFollowingRedirects(url, { method: req.method ?? 'GET', headers, body: requestBody(req.body), ...(req.signal ? { signal: req.signal } : {}) }, this.fetchImpl));
      } catch (e) {
        if (req.signal?.aborted) throw e;
        throw this.unreachable(url, e);
      }
      if (response.status !== 401) return response;
      await response.body?.cancel();
      const learned = this.auth.learnChallenge(this.host, response.headers.get('www-authenticate'));
      this.auth.invalidate(this.host, req.scopes);
      if (attempt >= 1 || !learned) {
        throw unauthorized(this.host, this.subject, authorization ? 'the registry refused the credentials or token' : 'the registry requires authentication');
      }
    }
  }

  /** Reads a registry error body (`{"errors":[{code,message}]}`) for an error message. */
  static async errorDetail(response: Response): Promise<RegistryErrorDetail[]> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
      return (parsed.errors ?? []).map((e) => ({ code: String(e.code ?? ''), message: String(e.message ?? '') }));
    } catch {
      return text.trim() ? [{ code: '', message: text.trim().slice(0, 300) }] : [];
    }
  }

  /** A KilnError for an unexpected answer, with the registry's own words. */
  async failure(response: Response, what: string): Promise<KilnError> {
    const details = await RegistryClient.errorDetail(response);
    const words = details.map((d) => (d.code ? `${d.code}: ${d.message}` : d.message)).join('; ');
    if (response.status === 403) return unauthorized(this.host, this.subject, `access denied while ${what}${words ? ` (${words})` : ''}`);
    return new KilnError('REGISTRY_ERROR', `registry ${this.host} answered ${response.status} while ${what} for ${this.subject}${words ? `: ${words}` : ''}`);
  }
}

function requestBody(body: Buffer | string | undefined): BodyInit | undefined {
  // A Buffer is a Uint8Array; the DOM typings only want to know its memory is not shared.
  return body as unknown as BodyInit | undefined;
}

/** A fetch response body as a Node stream (bodies are streamed, never buffered whole). */
export function bodyStream(response: Response): Readable {
  if (!response.body) return Readable.from([]);
  return Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
}
