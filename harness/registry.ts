/**
 * Real registries for tests: Debian's docker-registry (distribution 2.8) started on 127.0.0.1
 * at a free port with a generated config in a temp dir, plain, with htpasswd Basic auth, or with
 * Bearer token auth against a small token server the test runs in this process, over plain
 * HTTP or over TLS with a certificate from a CA of the test's own. Each is stopped by `stop()`,
 * which also removes its files.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from './hostCommands.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function registryAvailable(): boolean {
  return hasCommand('docker-registry') && hasCommand('htpasswd') && hasCommand('openssl');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The registry's storage root (`docker/registry/v2/…` beneath it). */
  storageDir: string;
  /** Where the blob with this digest is stored, for tampering tests. */
  blobDataPath(digest: string): string;
  /** Tokens the token server issued (Bearer registries only). */
  tokensIssued(): number;
  /** With `tls`: the PEM file of the CA that signed the registry's certificate. */
  caFile?: string;
  stop(): Promise<void>;
}

export type RegistryAuthMode = { kind: 'none' } | { kind: 'basic'; user: string; password: string } | { kind: 'token'; user: string; password: string; expiresIn?: number };

/** A JWT the registry accepts: RS256, the signing cert in x5c, the cert in rootcertbundle. */
function signToken(keyPem: string, certPem: string, claims: Record<string, unknown>): string {
  const der = new X509Certificate(certPem).raw.toString('base64');
  const header = { typ: 'JWT', alg: 'RS256', x5c: [der] };
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), createPrivateKey(keyPem)).toString('base64url');
  return `${input}.${signature}`;
}

async function startTokenServer(dir: string, user: string, password: string, expiresIn: number): Promise<{ server: Server; realm: string; certFile: string; count: () => number }> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=kiln-test-token-issuer'], { stdio: 'ignore' });
  const keyPem = readFileSync(keyFile, 'utf8');
  const certPem = readFileSync(certFile, 'utf8');
  let issued = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    if (auth !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'bad credentials' }));
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, ...rest] = scope.split(':');
      const actions = (rest.pop() ?? '').split(',').filter(Boolean);
      return [{ type, name: rest.join(':'), actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const token = signToken(keyPem, certPem, {
      iss: 'kiln-test-issuer',
      sub: user,
      aud: url.searchParams.get('service'),
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    });
    issued++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, realm: `http://127.0.0.1:${port}/token`, certFile, count: () => issued };
}

/** A CA and a certificate it signed for 127.0.0.1 (the registry's TLS), made with openssl. */
function makeTlsFiles(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=kiln-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('registry.key'), '-out', f('registry.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', f('registry.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('registry.crt'), '-days', '1', '-extfile', f('san.ext'));
  return { caFile: f('ca.crt'), certFile: f('registry.crt'), keyFile: f('registry.key') };
}

/** The status of GET url, trusting `ca` for https. */
function statusOf(url: string, ca: string | undefined): Promise<number> {
  if (ca === undefined) return fetch(url).then(async (r) => { await r.body?.cancel(); return r.status; });
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
}

async function waitReady(url: string, child: ChildProcess, logFile: string, ca?: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      const status = await statusOf(url, ca);
      if (status === 200 || status === 401) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer at ${url}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

export async function startRegistry(auth: RegistryAuthMode = { kind: 'none' }, opts: { tls?: boolean } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-registry-'));
  const tls = opts.tls ? makeTlsFiles(dir) : undefined;
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  let authYaml = '';
  let token: Awaited<ReturnType<typeof startTokenServer>> | undefined;
  if (auth.kind === 'basic') {
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, auth.user, auth.password], { stdio: 'ignore' });
    authYaml = `auth:\n  htpasswd:\n    realm: kiln-test\n    path: ${htpasswd}\n`;
  } else if (auth.kind === 'token') {
    token = await startTokenServer(dir, auth.user, auth.password, auth.expiresIn ?? 300);
    authYaml = `auth:\n  token:\n    realm: ${token.realm}\n    service: kiln-test-registry\n    issuer: kiln-test-issuer\n    rootcertbundle: ${token.certFile}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(tls ? ['  tls:', `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`] : []),
    authYaml,
  ].join('\n');
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, config);
  const logFile = join(dir, 'registry.log');
  const log = openSync(logFile, 'w');
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', log, log] });
  try {
    await waitReady(`${tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/`, child, logFile, tls ? readFileSync(tls.caFile, 'utf8') : undefined);
  } catch (e) {
    child.kill('SIGKILL');
    token?.server.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host: `127.0.0.1:${port}`,
    storageDir,
    blobDataPath(digest: string): string {
      const hex = digest.replace(/^sha256:/, '');
      return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    tokensIssued: () => token?.count() ?? 0,
    ...(tls ? { caFile: tls.caFile } : {}),
    async stop(): Promise<void> {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (token) await new Promise((r) => token?.server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** sha256 of a file, `sha256:<hex>`. */
export function fileDigest(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}
