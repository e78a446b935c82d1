/**
 * TCP throughput through a published port, kiln beside docker on the same busybox image and the
 * same container program (a static C source that writes N bytes to the first connection):
 *  - from the host to 127.0.0.1:PORT,
 *  - from another host (a network namespace with a link to this one) to the host's address.
 * kiln forwards with DNAT in the kernel. dockerd on this machine runs with --iptables=false, so
 * its -p works only through docker-proxy, a user-space copy per connection: that is what is
 * measured for docker, and it is said so in the output.
 *
 *   node dist/bench/port-throughput.js [--reps N] [--mib N]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../harness/busyboxImage.js';
import { DOCKER, importBusyboxIntoDocker } from '../harness/dockerImage.js';
import { makeOutsideHost, type OutsideHost } from '../harness/outsideHost.js';
import { freePort } from '../harness/freePort.js';
import { median } from './measure.js';
import { works } from './builders.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kilnBin = join(repoRoot, 'bin', 'kiln');
const IMAGE = `kiln-bench-ports-${process.pid}/busybox:latest`;

const SOURCE = String.raw`
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char** argv) {
  long long total = atoll(argv[1]);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(80);
  if (bind(s, (struct sockaddr*)&a, sizeof a) || listen(s, 8)) { perror("listen"); return 1; }
  printf("listening\n"); fflush(stdout);
  int c = accept(s, 0, 0);
  static char buf[1 << 20];
  memset(buf, 'k', sizeof buf);
  for (long long sent = 0; sent < total;) {
    long long n = total - sent < (long long)sizeof buf ? total - sent : (long long)sizeof buf;
    ssize_t w = write(c, buf, (size_t)n);
    if (w <= 0) return 1;
    sent += w;
  }
  close(c);
  return 0;
}
`;

/** Reads to EOF from HOST:PORT; prints "BYTES MS". */
const CLIENT = `
const [host, port] = process.argv.slice(1);
const t0 = performance.now();
let bytes = 0;
require('node:net').connect(Number(port), host).on('data', (c) => { bytes += c.length; }).on('close', () => process.stdout.write(bytes + ' ' + (performance.now() - t0) + '\\n'));
`;

interface Tool { name: string; argv: (port: number, source: string, bytes: number) => string[]; env: NodeJS.ProcessEnv }

/** Starts the container, waits for "listening", runs the client (on the host or in the outside namespace); MiB/s. */
async function once(tool: Tool, source: string, bytes: number, client: (port: number) => string[]): Promise<number> {
  const port = await freePort();
  const child = spawn(tool.argv(port, source, bytes)[0] as string, tool.argv(port, source, bytes).slice(1), { env: tool.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  await new Promise<void>((resolveReady, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('listening')) resolveReady(); });
    void exited.then((code) => reject(new Error(`${tool.name} container exited ${code}: ${err}`)));
  });
  const [cmd, ...args] = client(port);
  const r = spawnSync(cmd as string, args, { encoding: 'utf8' });
  await exited;
  const [got, ms] = r.stdout.trim().split(' ').map(Number);
  if (got !== bytes) throw new Error(`${tool.name}: received ${got} of ${bytes} bytes (${r.stderr}${err})`);
  return bytes / (1 << 20) / ((ms as number) / 1000);
}

async function main(): Promise<void> {
  const arg = (name: string, def: number): number => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : def; };
  const reps = Math.max(1, arg('--reps', 3));
  const bytes = Math.max(1, arg('--mib', 1024)) * (1 << 20);
  if (process.getuid?.() !== 0 || !haveBusybox) {
    process.stderr.write('port-throughput: needs root and /bin/busybox\n');
    process.exitCode = 2;
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'kiln-bench-ports-'));
  let outside: OutsideHost | undefined;
  const docker = works([DOCKER, 'info']);
  try {
    writeFileSync(join(work, 'source.c'), SOURCE);
    execFileSync('gcc', ['-static', '-O2', '-o', join(work, 'source'), join(work, 'source.c')]);
    const source = join(work, 'source');
    const storeRoot = join(work, 'store');
    await commitBusyboxImage(await Store.open({ root: storeRoot }), IMAGE);
    if (docker) await importBusyboxIntoDocker(IMAGE);
    outside = await makeOutsideHost();
    const common = (port: number, src: string, n: number): string[] => ['run', '--rm', '-p', `${port}:80`, '-v', `${src}:/source:ro`, IMAGE, '/source', String(n)];
    const tools: Tool[] = [
      { name: 'kiln', argv: (p, s, n) => [kilnBin, ...common(p, s, n)], env: { ...process.env, KILN_ROOT: storeRoot } },
      ...(docker ? [{ name: 'docker', argv: (p: number, s: string, n: number) => [DOCKER, ...common(p, s, n)], env: process.env }] : []),
    ];
    const host = outside.hostAddress;
    const namespace = outside.namespace;
    const paths: { name: string; client: (port: number) => string[] }[] = [
      { name: 'host → 127.0.0.1:PORT', client: (port) => [process.execPath, '-e', CLIENT, '127.0.0.1', String(port)] },
      { name: 'other host → HOST:PORT', client: (port) => ['ip', 'netns', 'exec', namespace, process.execPath, '-e', CLIENT, host, String(port)] },
    ];
    const results = new Map<string, number[]>();
    for (let rep = 0; rep < reps; rep++) {
      for (const path of paths) {
        for (const tool of rep % 2 === 0 ? tools : [...tools].reverse()) {
          const mib = await once(tool, source, bytes, path.client);
          results.set(`${path.name}|${tool.name}`, [...(results.get(`${path.name}|${tool.name}`) ?? []), mib]);
        }
      }
    }
    const lines = [`reps: ${reps}, ${bytes >> 20} MiB per transfer (medians, MiB/s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      'kiln: DNAT in the kernel; docker: docker-proxy (dockerd runs with --iptables=false here, so -p goes through its user-space proxy only)'];
    for (const path of paths) {
      const k = median(results.get(`${path.name}|kiln`) ?? []) as number;
      const d = median(results.get(`${path.name}|docker`) ?? []);
      lines.push(`${path.name.padEnd(24)} kiln ${k.toFixed(0)} MiB/s${d !== undefined ? `   docker ${d.toFixed(0)} MiB/s   kiln/docker ${(k / d).toFixed(2)}×  (goal ≥ 1.0×)` : ''}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    outside?.close();
    rmSync(work, { recursive: true, force: true });
    if (docker) spawnSync(DOCKER, ['rmi', IMAGE], { stdio: 'ignore' });
  }
}

await main();
