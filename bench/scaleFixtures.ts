/**
 * The inputs of the scaling bench (bench/scale.ts): recipes whose size is the variable — a long
 * Dockerfile, many independent stages — one large file for COPY, and a docker-save archive of
 * many small images for filling a store. The busybox base is fixtures.ts's.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BASE = 'FROM scratch AS base\nADD rootfs.tar /\n';

/**
 * `count` instructions after FROM: every tenth a RUN (a container), the rest ENV — the mix keeps
 * the 1,000-instruction build about the parser, planner and cache rather than 1,000 containers.
 */
export function longRecipe(count: number, nonce: string): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(i % 10 === 9 ? `RUN echo ${nonce}-${i} > /f${i}` : `ENV V${i}=${nonce}-${i}`);
  return `${BASE}FROM base\n${lines.join('\n')}\n`;
}

/** `stages` independent stages of one small RUN each, joined by COPY --from in a last stage. */
export function fanOutRecipe(stages: number, nonce: string): string {
  const parts: string[] = [BASE];
  for (let i = 0; i < stages; i++) parts.push(`FROM base AS s${i}\nRUN echo ${nonce}-${i} > /out${i}\n`);
  parts.push('FROM base\n');
  for (let i = 0; i < stages; i++) parts.push(`COPY --from=s${i} /out${i} /out/${i}\n`);
  return parts.join('');
}

/** One file `big` of `bytes` random bytes in `ctx`, on disk (kept between runs when its size is right). */
export function writeBigFile(ctx: string, bytes: number): string {
  mkdirSync(ctx, { recursive: true });
  const file = join(ctx, 'big');
  if (existsSync(file) && statSync(file).size === bytes) return file;
  const tmp = `${file}.tmp`;
  execFileSync('sh', ['-c', `head -c ${bytes} /dev/urandom > "$1"`, 'sh', tmp]);
  // On disk before anything is timed: otherwise the first build pays for writing back the
  // gigabytes the page cache still holds dirty (the 4 GiB COPY took twice its linear share).
  execFileSync('sync', [tmp]);
  renameSync(tmp, file);
  return file;
}

/** A Dockerfile copying the big file (the destination carries the nonce, so each build is cold). */
export function bigFileRecipe(nonce: string): string {
  return `${BASE}FROM base\nCOPY big /big-${nonce}\n`;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A legacy docker-save archive of `count` images tagged `${prefix}:N`, all on one layer (the
 * busybox rootfs tar), each with a config of its own (a label): what `docker load` and
 * `kiln load` take in one call, so a store of 1,000 images is made in seconds in both.
 */
export async function manyImagesArchive(dir: string, rootfsTar: string, prefix: string, count: number): Promise<string> {
  const work = join(dir, `images-${count}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const diffId = `sha256:${await sha256OfFile(rootfsTar)}`;
  execFileSync('ln', [rootfsTar, join(work, 'layer.tar')]);
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  for (let i = 0; i < count; i++) {
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'], Labels: { 'kiln.bench.n': String(i) } },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'ADD rootfs.tar /' }],
    });
    const name = `${createHash('sha256').update(config).digest('hex')}.json`;
    writeFileSync(join(work, name), config);
    manifest.push({ Config: name, RepoTags: [`${prefix}:${i}`], Layers: ['layer.tar'] });
  }
  writeFileSync(join(work, 'manifest.json'), JSON.stringify(manifest));
  const archive = join(dir, `images-${count}.tar`);
  execFileSync('tar', ['-C', work, '-cf', archive, '.']);
  rmSync(work, { recursive: true, force: true });
  return archive;
}
