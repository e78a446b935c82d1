/**
 * Whether a COPY/ADD source is an http(s) URL. Apart from the downloader (fetchUrl.ts) so the
 * cache can ask without loading what downloads need (crypto, streams).
 */
export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}
