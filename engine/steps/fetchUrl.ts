/**
 * ADD's http(s) sources: downloaded once into the build's scratch space, hashed while
 * streaming, checked against `--checksum`. The file is named by the URL's last path segment.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { trustExtraCertificates } from '../registry/extraCertificates.js';
import { nodeCrypto } from '../host/nodeCrypto.js';

export class DownloadError extends Error {}

export interface Download { path: string; name: string; digest: string; mtime: Date | undefined }

export function urlFileName(url: string): string {
  try {
    const segs = new URL(url).pathname.split('/').filter((s) => s !== '');
    const last = segs[segs.length - 1];
    return last === undefined ? '__unnamed__' : decodeURIComponent(last);
  } catch { return '__unnamed__'; }
}

export async function download(url: string, dir: string, checksum: string | undefined): Promise<Download> {
  if (checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(checksum)) {
    throw new DownloadError(`invalid checksum digest format: ${checksum}`);
  }
  let res: Response;
  trustExtraCertificates();
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    throw new DownloadError(`failed to fetch ${url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  if (!res.ok || res.body === null) throw new DownloadError(`failed to fetch ${url}: invalid response status ${res.status}`);
  const hash = nodeCrypto().createHash('sha256');
  const path = join(dir, 'download');
  const tee = new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk); } });
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), tee, createWriteStream(path, { mode: 0o600 }));
  const digest = `sha256:${hash.digest('hex')}`;
  if (checksum !== undefined && checksum !== digest) {
    throw new DownloadError(`digest mismatch ${digest}: ${checksum}`);
  }
  const lm = res.headers.get('last-modified');
  const mtime = lm ? new Date(lm) : undefined;
  return { path, name: urlFileName(url), digest, mtime: mtime && !Number.isNaN(mtime.getTime()) ? mtime : undefined };
}
