/**
 * kiln's archives against the real tools: docker load / run / save, podman load, skopeo inspect.
 * The image is busybox-static as one layer written by kiln's tar writer, so no network is needed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import type { ImageRecord } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { dockerAvailable, hasCommand, kilnBin, prerequisite } from '../support/env.js';

const DOCKER = '/usr/bin/docker';
const suffix = randomBytes(4).toString('hex');
const tag = `kiln-compat/busybox:${suffix}`;
let work = '';
let root = '';
let image: ImageRecord | undefined;
let dockerArchive = '';
let ociArchive = '';
const docker = dockerAvailable();

function run(cmd: string, args: string[], opts: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'], ...opts }) as string;
}

function kiln(args: string[]): string {
  return run(process.execPath, [kilnBin, ...args], { env: { ...process.env, KILN_ROOT: root } });
}

before(async () => {
  if (!haveBusybox) return;
  work = await mkdtemp(join(tmpdir(), 'kiln-compat-'));
  root = join(work, 'store');
  const store = await Store.open({ root });
  image = await commitBusyboxImage(store, tag);
  dockerArchive = join(work, 'image.tar');
  ociArchive = join(work, 'image-oci.tar');
  kiln(['save', '-o', dockerArchive, tag]);
  kiln(['save', '--format', 'oci', '-o', ociArchive, tag]);
});

after(async () => {
  if (docker) {
    try { run(DOCKER, ['rmi', '-f', tag, `kiln-compat/from-docker:${suffix}`]); } catch { /* already gone */ }
  }
  if (hasCommand('podman')) {
    try { run('podman', ['rmi', '-f', tag]); } catch { /* already gone */ }
  }
  if (work) await rm(work, { recursive: true, force: true });
});

test('docker load accepts kiln save, keeps the image ID, and docker run works on it', (t) => {
  if (!prerequisite(t, haveBusybox, 'needs /bin/busybox (Debian busybox-static)')) return;
  if (!prerequisite(t, docker, 'needs a running dockerd (.ci/setup starts one)')) return;
  const out = run(DOCKER, ['load', '-i', dockerArchive]);
  assert.match(out, new RegExp(`Loaded image: ${tag}`));
  assert.equal(run(DOCKER, ['inspect', '-f', '{{.Id}}', tag]).trim(), image!.id);
  assert.equal(run(DOCKER, ['run', '--rm', '--network', 'none', tag, 'sh', '-c', 'echo hello from $(cat /etc/passwd | head -1 | cut -d: -f1)']).trim(), 'hello from root');
  // docker's own view of the config matches ours.
  const inspected = JSON.parse(run(DOCKER, ['inspect', tag])) as { Config: { Cmd: string[]; Env: string[] }; RootFS: { Layers: string[] } }[];
  assert.deepEqual(inspected[0]?.Config.Cmd, ['sh']);
  assert.deepEqual(inspected[0]?.RootFS.Layers, image!.config.rootfs.diff_ids);
  const ours = JSON.parse(kiln(['inspect', tag])) as { Id: string; RepoTags: string[]; Config: { Cmd: string[] }; RootFS: { Layers: string[] } }[];
  assert.equal(ours[0]?.Id, image!.id);
  assert.deepEqual(ours[0]?.RepoTags, [tag]);
  assert.deepEqual(ours[0]?.RootFS, inspected[0]?.RootFS);
});

test('kiln load reads what docker save wrote, with the same ID', (t) => {
  if (!prerequisite(t, haveBusybox, 'needs /bin/busybox (Debian busybox-static)')) return;
  if (!prerequisite(t, docker, 'needs a running dockerd (.ci/setup starts one)')) return;
  run(DOCKER, ['load', '-i', dockerArchive]);
  const other = `kiln-compat/from-docker:${suffix}`;
  run(DOCKER, ['tag', tag, other]);
  const saved = join(work, 'from-docker.tar');
  run(DOCKER, ['save', '-o', saved, other]);
  const freshRoot = join(work, 'fresh');
  const out = run(process.execPath, [kilnBin, 'load', '-i', saved], { env: { ...process.env, KILN_ROOT: freshRoot } });
  assert.match(out, new RegExp(`Loaded image: ${other}`));
  const id = run(process.execPath, [kilnBin, 'inspect', '-f', '{{.Id}}', other], { env: { ...process.env, KILN_ROOT: freshRoot } }).trim();
  assert.equal(id, image!.id);
});

test('podman load accepts kiln save with the same image ID', (t) => {
  if (!prerequisite(t, haveBusybox, 'needs /bin/busybox (Debian busybox-static)')) return;
  if (!prerequisite(t, hasCommand('podman'), 'needs podman (Debian podman)')) return;
  const out = run('podman', ['load', '-i', dockerArchive]);
  assert.match(out, new RegExp(`Loaded image: (docker\\.io/)?${tag}`));
  assert.equal(run('podman', ['image', 'inspect', '--format', '{{.Id}}', tag]).trim(), image!.id.slice(7));
});

test('skopeo inspects both archive kinds and sees kiln\'s layers', (t) => {
  if (!prerequisite(t, haveBusybox, 'needs /bin/busybox (Debian busybox-static)')) return;
  if (!prerequisite(t, hasCommand('skopeo'), 'needs skopeo (Debian skopeo)')) return;
  for (const ref of [`docker-archive:${dockerArchive}`, `oci-archive:${ociArchive}`]) {
    const info = JSON.parse(run('skopeo', ['inspect', ref])) as { Layers: string[]; Os: string; Architecture: string };
    assert.deepEqual(info.Layers, image!.config.rootfs.diff_ids, ref);
    assert.equal(info.Os, 'linux');
    const config = JSON.parse(run('skopeo', ['inspect', '--config', ref])) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, image!.config.rootfs.diff_ids);
  }
});
