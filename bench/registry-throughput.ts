/**
 * Pull and push throughput against a local registry (Debian's docker-registry on 127.0.0.1):
 * a ~200 MB image (two 50 MiB layers of random bytes, two of compressible text) pushed and pulled
 * by kiln and by docker (dockerd must be running), taking turns, each round against fresh
 * registries and empty stores. Prints every time and the medians.
 *
 *   node dist/bench/registry-throughput.js [--reps N] [--no-docker]
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { Store } from '../engine/store/store.js';
import { writeLayer } from '../engine/layer/tarWriter.js';
import { emptyConfig } from '../engine/image/config.js';
import { kilnBin } from '../harness/kilnBinary.js';
import { registryAvailable, startRegistry } from '../harness/registry.js';
import { formatMs, median, timeCommand } from './measure.js';
import { works } from './builders.js';

const MiB = 1024 * 1024;
const DOCKER = '/usr/bin/docker';

async function writeGenerated(file: string, bytes: number, piece: (i: number) => Buffer): Promise<void> {
  const out = createWriteStream(file);
  let written = 0;
  for (let i = 0; written < bytes; i++) {
    const p = piece(i).subarray(0, bytes - written);
    written += p.length;
    if (!out.write(p)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function makeImage(root: string, work: string): Promise<{ id: string; bytes: number }> {
  const layers: [string, (i: number) => Buffer][] = [
    ['random-a', () => randomBytes(MiB)],
    ['random-b', () => randomBytes(MiB)],
    ['numbers', (i) => Buffer.from(Array.from({ length: 20000 }, (_, k) => `${i * 20000 + k}\n`).join(''))],
    ['mixed', (i) => Buffer.concat([Buffer.from(randomBytes(24 * 1024).toString('base64')), Buffer.from(Array.from({ length: 4000 }, (_, k) => `line ${i} ${k}\n`).join(''))])],
  ];
  const store = await Store.open({ root });
  const diffIds: string[] = [];
  let bytes = 0;
  for (const [name, piece] of layers) {
    const dir = join(work, name);
    mkdirSync(join(dir, 'data'), { recursive: true });
    await writeGenerated(join(dir, 'data', `${name}.bin`), 50 * MiB, piece);
    const layer = await writeLayer(store, dir, { whiteouts: 'none', sourceDateEpoch: 0 });
    diffIds.push(layer.diffId);
    bytes += layer.size;
    rmSync(dir, { recursive: true });
  }
  const config = emptyConfig();
  config.rootfs.diff_ids = diffIds;
  config.config = { Cmd: ['/bin/sh'] };
  config.history = diffIds.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `layer ${i}` }));
  const rec = await store.commitImage(config);
  await store.tag(rec.id, 'bench/big:1');
  return { id: rec.id, bytes };
}

function dockerRemoveBench(): void {
  const names = execFileSync(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).split('\n').filter((n) => n.includes('bench/big'));
  if (names.length > 0) execFileSync(DOCKER, ['rmi', '-f', ...names], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const reps = Math.max(1, Number(argv[argv.indexOf('--reps') + 1] ?? 3) || 3);
  if (!registryAvailable()) throw new Error('docker-registry, htpasswd and openssl are needed');
  const withDocker = !argv.includes('--no-docker') && works([DOCKER, 'info']);
  const work = mkdtempSync(join(tmpdir(), 'kiln-bench-registry-'));
  try {
    const src = join(work, 'src');
    const { id, bytes } = await makeImage(src, work);
    console.log(`image ${id.slice(7, 19)}: ${(bytes / 1e6).toFixed(1)} MB uncompressed in 4 layers`);
    const archive = join(work, 'big.tar');
    if (withDocker) {
      execFileSync(kilnBin, ['save', '-o', archive, 'bench/big:1'], { env: { ...process.env, KILN_ROOT: src } });
    }
    const times: Record<string, number[]> = { 'kiln push': [], 'kiln pull': [], 'docker push': [], 'docker pull': [] };
    const record = (what: string, r: { ok: boolean; ms: number; error?: string }): void => {
      if (!r.ok) throw new Error(`${what} failed: ${r.error ?? ''}`);
      times[what]?.push(r.ms);
      console.log(`  ${what}: ${formatMs(r.ms)} (${(bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s of image)`);
    };
    for (let round = 1; round <= reps; round++) {
      console.log(`round ${round}`);
      const [a, b] = [await startRegistry(), await startRegistry()];
      try {
        rmSync(join(src, 'registry'), { recursive: true, force: true }); // forget where layers were pushed
        const env = { ...process.env, KILN_ROOT: src };
        execFileSync(kilnBin, ['tag', 'bench/big:1', `${a.host}/bench/big:1`], { env });
        record('kiln push', await timeCommand([kilnBin, 'push', '-q', `${a.host}/bench/big:1`], env));
        if (withDocker) {
          dockerRemoveBench();
          execFileSync(DOCKER, ['load', '-q', '-i', archive], { stdio: 'ignore' });
          execFileSync(DOCKER, ['tag', 'bench/big:1', `${b.host}/bench/big:1`]);
          record('docker push', await timeCommand([DOCKER, 'push', '-q', `${b.host}/bench/big:1`], process.env));
        }
        const dst = join(work, `dst${round}`);
        record('kiln pull', await timeCommand([kilnBin, 'pull', '-q', `${a.host}/bench/big:1`], { ...process.env, KILN_ROOT: dst }));
        rmSync(dst, { recursive: true, force: true });
        if (withDocker) {
          dockerRemoveBench();
          record('docker pull', await timeCommand([DOCKER, 'pull', '-q', `${b.host}/bench/big:1`], process.env));
          dockerRemoveBench();
        }
      } finally {
        await a.stop();
        await b.stop();
      }
    }
    console.log('medians:');
    for (const [what, list] of Object.entries(times)) {
      const m = median(list);
      if (m !== undefined) console.log(`  ${what}: ${formatMs(m)} (${(bytes / 1e6 / (m / 1000)).toFixed(1)} MB/s)`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
