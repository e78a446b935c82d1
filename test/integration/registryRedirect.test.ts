/**
 * Blob downloads that redirect to another host (a CDN or object store) must not carry the
 * registry's credentials there. A small in-process registry that demands Basic auth answers
 * blob GETs with 307 to a second server (another port: another origin), which records what
 * headers it was sent; a redirect within the registry's own origin keeps them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Store } from '../../engine/store/store.js';
import { pullImage } from '../../engine/registry/pull.js';
import { sha256Digest } from '../../engine/registry/manifest.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../engine/image/mediaTypes.js';
import { layerFromFiles } from '../support/testImage.js';

const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

test('a blob redirect to another host gets no Authorization; the registry itself always does', async () => {
  const src = await Store.open({ root: await mkdtemp(join(tmpdir(), 'kiln-store-')) });
  dirs.push(src.root);
  const diffId = await layerFromFiles(src, { 'hello.txt': 'redirected layer\n' });
  const layer = gzipSync(await readFile(src.blobPath(diffId)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'x' }] }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256Digest(config), size: config.length }, layers: [{ mediaType: OCI_LAYER_GZIP, digest: sha256Digest(layer), size: layer.length }] }));
  const blobs = new Map([[sha256Digest(config), config], [sha256Digest(layer), layer]]);
  const basic = `Basic ${Buffer.from('carol:pw').toString('base64')}`;

  const cdnSaw: (string | undefined)[] = [];
  const cdnPort = await listen((req, res) => {
    cdnSaw.push(req.headers.authorization);
    const digest = new URL(req.url ?? '/', 'http://x').pathname.split('/').pop() as string;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(blobs.get(digest));
  });
  const registrySaw: string[] = [];
  const regPort = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    registrySaw.push(`${req.method} ${path} ${req.headers.authorization === basic ? 'auth' : 'none'}`);
    if (req.headers.authorization !== basic) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (path === '/v2/') return void res.end('{}');
    if (path === '/v2/team/app/manifests/1') {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha256Digest(manifest) });
      return void res.end(manifest);
    }
    const blob = /^\/v2\/team\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (blob) {
      // The config moves within the registry's origin; the layer goes to the other host.
      const to = blob[1] === sha256Digest(config) ? `/v2/team/app/moved/${blob[1]}` : `http://127.0.0.1:${cdnPort}/cdn/${blob[1]}?sig=abc`;
      res.writeHead(307, { location: to });
      return void res.end();
    }
    const moved = /^\/v2\/team\/app\/moved\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (moved) return void res.end(blobs.get(moved[1] as string));
    res.writeHead(404);
    res.end();
  });

  const dst = await Store.open({ root: await mkdtemp(join(tmpdir(), 'kiln-store-')) });
  dirs.push(dst.root);
  const rec = await pullImage(dst, `127.0.0.1:${regPort}/team/app:1`, { credentials: async () => ({ username: 'carol', password: 'pw' }) });
  assert.equal(rec.id, sha256Digest(config));
  assert.equal(await dst.hasBlob(diffId), true);
  assert.deepEqual(cdnSaw, [undefined], 'the other host never saw the credentials');
  assert.ok(registrySaw.includes(`GET /v2/team/app/moved/${sha256Digest(config)} auth`), 'a same-origin redirect keeps them');
  assert.ok(registrySaw.filter((l) => l.startsWith('GET /v2/team')).every((l) => l.endsWith(' auth')), registrySaw.join('\n'));
});
