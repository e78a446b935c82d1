/**
 * An "outside host" for network tests: a network namespace this test makes itself, linked to the
 * host by a veth pair on a random /30 of 198.18.0.0/15 (the benchmarking range, routed nowhere),
 * with a small HTTP server in it. Containers reach it only through the host's routing and kiln's
 * NAT; the test never sends traffic anywhere else. Names carry the pid and a random suffix, so
 * concurrent test runs never meet; close() removes the namespace and its link.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface OutsideHost {
  /** The namespace's name (for `ip netns exec`). */
  namespace: string;
  /** The host's end of the link: the outside host reaches the host (and published ports) here. */
  hostAddress: string;
  /** The outside host's own address, where its HTTP server listens. */
  address: string;
  port: number;
  /** What the server answers to GET /. */
  body: string;
  url: string;
  /** Runs a command inside the namespace. */
  exec(argv: string[]): { status: number | null; stdout: string; stderr: string };
  close(): void;
}

function routedSubnets(): { base: number; len: number }[] {
  const out: { base: number; len: number }[] = [];
  for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (h: string): number => { const n = Number.parseInt(h, 16); return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0; };
    const mask = le(f[7] as string);
    if (mask === 0) continue;
    let len = 0;
    while (len < 32 && (mask >>> (31 - len)) & 1) len++;
    out.push({ base: le(f[1] as string), len });
  }
  return out;
}

const dotted = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function freeSlash30(): number {
  const routes = routedSubnets();
  for (;;) {
    const base = ((198 << 24) | (18 << 16)) + (randomBytes(2).readUInt16BE() % 32768) * 4;
    const clash = routes.some((r) => { const m = r.len === 0 ? 0 : (0xffffffff << (32 - r.len)) >>> 0; return ((base & m) >>> 0) === ((r.base & m) >>> 0); });
    if (!clash) return base >>> 0;
  }
}

const SERVER = `
const http = require('node:http');
const [addr, port, body] = process.argv.slice(1);
http.createServer((req, res) => { res.end(body); }).listen(Number(port), addr, () => process.stdout.write('ready\\n'));
`;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the namespace, its link and its server; resolves once the server listens. */
export async function makeOutsideHost(): Promise<OutsideHost> {
  const tag = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const namespace = `kiln-test-out-${tag}`;
  const hostLink = `kto${tag}`.slice(0, 15);
  const base = freeSlash30();
  const hostAddress = dotted(base + 1);
  const address = dotted(base + 2);
  const port = 8000 + (randomBytes(2).readUInt16BE() % 1000);
  const body = `outside-${tag}`;
  let server: ChildProcess | undefined;
  const close = (): void => {
    server?.kill('SIGKILL');
    try { ip(['netns', 'del', namespace]); } catch { /* never made */ }
    try { ip(['link', 'del', hostLink]); } catch { /* went with the namespace */ }
  };
  try {
    ip(['netns', 'add', namespace]);
    ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostLink]);
    ip(['link', 'set', hostLink, 'up']);
    ip(['-n', namespace, 'addr', 'add', `${address}/30`, 'dev', 'eth0']);
    ip(['-n', namespace, 'link', 'set', 'eth0', 'up']);
    ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
    ip(['-n', namespace, 'route', 'add', 'default', 'via', hostAddress]);
    server = spawn('ip', ['netns', 'exec', namespace, process.execPath, '-e', SERVER, address, String(port), body], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (code) => reject(new Error(`outside host's server exited ${code}`)));
    });
  } catch (err) {
    close();
    throw err;
  }
  const exec = (argv: string[]): { status: number | null; stdout: string; stderr: string } => {
    try {
      const stdout = execFileSync('ip', ['netns', 'exec', namespace, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      return { status: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { status: number | null; stdout?: string; stderr?: string };
      return { status: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return { namespace, hostAddress, address, port, body, url: `http://${address}:${port}/`, exec, close };
}

/** An HTTP GET from inside the namespace (node's fetch, so no tool is assumed there). */
export function fetchFrom(outside: OutsideHost, url: string): { ok: boolean; body: string; error: string } {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => process.stdout.write(await r.text()), (e) => { process.stderr.write(String(e.cause?.code ?? e)); process.exitCode = 1; })`;
  const r = outside.exec([process.execPath, '-e', script]);
  return { ok: r.status === 0, body: r.stdout, error: r.stderr };
}
