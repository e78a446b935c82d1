/**
 * fetch with redirects followed by hand, so credentials never reach another host: blob
 * downloads usually answer 307 to a CDN or object store with its own signed URL, and a
 * registry's Bearer token or Basic password must not travel there.
 */
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** Headers for the next hop: Authorization and Cookie dropped when the origin changes. */
export function headersForRedirect(from: URL, to: URL, headers: Headers): Headers {
  const next = new Headers(headers);
  if (from.origin !== to.origin) {
    next.delete('authorization');
    next.delete('cookie');
  }
  return next;
}

export async function fetchFollowingRedirects(url: string, init: RequestInit, fetchImpl: FetchFunction = fetch): Promise<{ response: Response; finalUrl: string }> {
  let current = new URL(url);
  let headers = new Headers(init.headers);
  let method = init.method ?? 'GET';
  let body = init.body;
  for (let hop = 0; ; hop++) {
    const response = await fetchImpl(current.toString(), { ...init, method, body, headers, redirect: 'manual' });
    const location = response.headers.get('location');
    if (!REDIRECT_STATUSES.has(response.status) || location === null) return { response, finalUrl: current.toString() };
    if (hop >= MAX_REDIRECTS) throw new Error(`too many redirects fetching ${url}`);
    // A streamed request body cannot be replayed; registries only redirect GET/HEAD.
    if (body !== undefined && body !== null && response.status !== 303) throw new Error(`registry redirected a ${method} request with a body to ${location}`);
    await response.body?.cancel();
    const next = new URL(location, current);
    headers = headersForRedirect(current, next, headers);
    if (response.status === 303 && method !== 'HEAD') {
      method = 'GET';
      body = undefined;
    }
    current = next;
  }
}
