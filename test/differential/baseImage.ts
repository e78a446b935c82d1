/**
 * The suite's base image, the same bytes for every builder: the README's busybox recipe
 * (examples/busybox: FROM scratch, ADD rootfs.tar, PATH, CMD) built once by kiln and handed to
 * docker with `docker load`, to BuildKit v0.24 as an OCI layout, and read once as the snapshot
 * every recipe's files are judged against.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/env.js';
import { runKiln, succeeds } from '../support/kilnProcess.js';

export interface BaseImage {
  tag: string;
  /** docker-save archive of it. */
  archive: string;
}

/** Builds the base into `storeRoot` as `tag` and saves it to `dir/base.tar`. */
export async function buildBase(dir: string, storeRoot: string, tag: string): Promise<BaseImage> {
  const example = join(repoRoot, 'examples', 'busybox');
  execFileSync('sh', [join(example, 'make-rootfs.sh')], { stdio: 'ignore' });
  const ctx = join(dir, 'base-context');
  mkdirSync(ctx, { recursive: true });
  copyFileSync(join(example, 'Dockerfile'), join(ctx, 'Dockerfile'));
  copyFileSync(join(example, 'rootfs.tar'), join(ctx, 'rootfs.tar'));
  await succeeds(runKiln(storeRoot, ['build', '-q', '-t', tag, ctx]));
  const archive = join(dir, 'base.tar');
  await succeeds(runKiln(storeRoot, ['save', '-o', archive, tag]));
  return { tag, archive };
}

/** The base as an OCI image layout directory (for BuildKit's `oci-layout://` named context), with its manifest digest. */
export async function baseLayout(dir: string, storeRoot: string, tag: string): Promise<{ layout: string; digest: string }> {
  const tarball = join(dir, 'base-oci.tar');
  await succeeds(runKiln(storeRoot, ['save', '--format', 'oci', '-o', tarball, tag]));
  const layout = join(dir, 'base-oci');
  mkdirSync(layout, { recursive: true });
  execFileSync('tar', ['-xf', tarball, '-C', layout]);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const digest = index.manifests[0]?.digest;
  if (!digest) throw new Error('the base OCI layout has no manifest');
  return { layout, digest };
}
