/**
 * The inputs every builder gets: a busybox-static root filesystem as a deterministic tar
 * (the base image with no registry: `FROM scratch` + `ADD rootfs.tar /`), and the build
 * contexts and Dockerfiles of each benchmark.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

export function haveBusybox(): boolean {
  return existsSync(BUSYBOX);
}

/** Writes `dir/rootfs.tar`: busybox, one symlink per applet, passwd/group, /tmp 1777. */
export function writeRootfsTar(dir: string): string {
  const tarFile = join(dir, 'rootfs.tar');
  if (existsSync(tarFile)) return tarFile;
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  execFileSync('cp', [BUSYBOX, join(root, 'bin', 'busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, '.']);
  return tarFile;
}

/** A context holding only the rootfs tar (hard-linked, so every context shares one copy). */
export function makeContext(dir: string, rootfsTar: string): string {
  mkdirSync(dir, { recursive: true });
  const target = join(dir, 'rootfs.tar');
  if (!existsSync(target)) execFileSync('ln', [rootfsTar, target]);
  return dir;
}

/** 20,000 small files in 100 directories, under `ctx/files`. */
export function writeManyFiles(ctx: string, count = 20_000): void {
  const files = join(ctx, 'files');
  if (existsSync(join(files, 'done'))) return;
  for (let i = 0; i < count; i++) {
    const d = join(files, `d${i % 100}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}.txt`), `file ${i}\n`);
  }
  writeFileSync(join(files, 'done'), '');
}

const BASE = 'FROM scratch AS base\nADD rootfs.tar /\n';

/** Four independent stages of `sleep 2`, and a final stage copying from each. */
export function fourStages(nonce: string): string {
  const stages = [1, 2, 3, 4].map((i) => `FROM base AS s${i}\nRUN echo ${nonce}-${i} > /out${i} && sleep 2\n`).join('');
  const copies = [1, 2, 3, 4].map((i) => `COPY --from=s${i} /out${i} /out${i}\n`).join('');
  return `${BASE}${stages}FROM base\n${copies}`;
}

/** Ten RUN steps in a row. */
export function tenRuns(nonce: string): string {
  return `${BASE}FROM base\n${Array.from({ length: 10 }, (_, i) => `RUN echo ${nonce}-${i} > /f${i}\n`).join('')}`;
}

/** The 20,000-file context copied into the image (the destination carries the nonce). */
export function manyFilesCopy(nonce: string): string {
  return `${BASE}FROM base\nCOPY files /data-${nonce}/\n`;
}

export function baseOnly(): string {
  return `${BASE}FROM base\n`;
}
