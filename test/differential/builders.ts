/**
 * The two builders of the differential suite, driven the same way from one recipe: docker build
 * (Debian's docker CLI, BuildKit on) into a uniquely named image that is saved and removed at
 * once, and kiln build into a docker-save archive. Each says whether it built and what it said.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { kilnBin } from '../support/env.js';
import { runCommand, type Result } from '../support/kilnProcess.js';
import { configFields, snapshotArchive, type Snapshot } from './imageSnapshot.js';
import type { Recipe } from './recipe.js';

export const DOCKER = '/usr/bin/docker';

/** `--secret id=ID,src=FILE` for each secret, its value written to a file under `secretsDir`. */
export function secretFlags(recipe: Recipe, secretsDir: string): string[] {
  const flags: string[] = [];
  for (const [id, value] of Object.entries(recipe.secrets ?? {})) {
    mkdirSync(secretsDir, { recursive: true });
    const file = join(secretsDir, id);
    writeFileSync(file, value);
    flags.push('--secret', `id=${id},src=${file}`);
  }
  return flags;
}

/** Build options as command-line flags (the same spelling for docker and kiln). */
export function buildFlags(recipe: Recipe, ctx: string, secretsDir: string): string[] {
  const flags: string[] = [];
  if (recipe.dockerfileName !== undefined) flags.push('-f', join(ctx, recipe.dockerfileName));
  for (const [k, v] of Object.entries(recipe.buildArgs ?? {})) flags.push('--build-arg', `${k}=${v}`);
  if (recipe.target !== undefined) flags.push('--target', recipe.target);
  return [...flags, ...secretFlags(recipe, secretsDir)];
}

export interface Built { ok: boolean; output: string }

/**
 * docker build → docker save; the image's snapshot when the build succeeds (the caller removes
 * the image — many at once, with removeDockerImages — since each docker call costs). docker
 * cannot save an image with no layer ("empty export"): its config and history then come from
 * `docker image inspect` and `docker history` (every entry an empty layer, as there are none).
 */
export async function dockerBuild(recipe: Recipe, ctx: string, image: string, archive: string, secretsDir: string): Promise<Built & { snapshot?: Snapshot }> {
  const built = await dockerBuildImage(recipe, ctx, image, secretsDir);
  if (built.code !== 0) return { ok: false, output: built.stderr + built.stdout };
  try {
    const saved = await runCommand(DOCKER, ['save', '-o', archive, image]);
    if (saved.code === 0) return { ok: true, output: built.stderr, snapshot: await snapshotArchive(archive) };
    if (!saved.stderr.includes('empty export')) throw new Error(`docker save ${image}: ${saved.stderr}`);
    return { ok: true, output: built.stderr, snapshot: await layerlessSnapshot(image) };
  } finally {
    await rm(archive, { force: true });
  }
}

/** docker build of the recipe into `image` (BuildKit on), nothing saved. */
export async function dockerBuildImage(recipe: Recipe, ctx: string, image: string, secretsDir: string): Promise<Result> {
  // dockerd is shared: a recipe that kills it is never sent, whoever asks.
  if (recipe.crashesDocker !== undefined) throw new Error(`${recipe.name} is not for docker 20.10: ${recipe.crashesDocker}`);
  const env = { ...process.env, DOCKER_BUILDKIT: '1' };
  return runCommand(DOCKER, ['build', '--progress=plain', '-t', image, ...buildFlags(recipe, ctx, secretsDir), ctx], { env });
}

/** Removes images this process made (unique names), a hundred per docker call. */
export async function removeDockerImages(images: string[]): Promise<void> {
  for (let i = 0; i < images.length; i += 100) await runCommand(DOCKER, ['rmi', '-f', ...images.slice(i, i + 100)]);
}

async function layerlessSnapshot(image: string): Promise<Snapshot> {
  const inspected = await runCommand(DOCKER, ['image', 'inspect', '--format', '{{json .Config}}', image]);
  if (inspected.code !== 0) throw new Error(`docker image inspect ${image}: ${inspected.stderr}`);
  const history = await runCommand(DOCKER, ['history', '--no-trunc', '--format', '{{json .CreatedBy}}', image]);
  if (history.code !== 0) throw new Error(`docker history ${image}: ${history.stderr}`);
  const createdBy = history.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string).reverse();
  return {
    config: configFields(JSON.parse(inspected.stdout) as Record<string, unknown>),
    history: createdBy.map((c) => ({ created_by: c, empty_layer: true })),
    files: {},
  };
}

export async function kilnBuild(recipe: Recipe, ctx: string, storeRoot: string, archive: string, secretsDir: string): Promise<Built & { result: Result }> {
  const args = ['build', '-q', '-o', `type=docker,dest=${archive}`, ...buildFlags(recipe, ctx, secretsDir), ctx];
  const result = await runCommand(process.execPath, [kilnBin, ...args], { env: { ...process.env, KILN_ROOT: storeRoot } });
  return { ok: result.code === 0, output: result.stderr, result };
}
