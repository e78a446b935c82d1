/**
 * kiln build features beyond the main recipe: ONBUILD triggers, named contexts, a Dockerfile
 * from stdin or elsewhere with its own ignore file, secrets that never reach a layer, cache
 * mounts that persist, ADD of compressed tars and URLs, --target, and a failing RUN.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { hasCommand, isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runCommand, runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

let work = '';
let store = '';
let canRun = false;
const BASE = 'kiln-features-base';

function busyboxWorks(): boolean {
  try { execFileSync('/bin/busybox', ['true']); return true; } catch { return false; }
}

const kiln = (args: string[], opts: { cwd?: string; input?: string } = {}) => runKiln(store, args, opts);

async function rootfsOf(ctx: string, args: string[] = [], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  const out = await mkdtemp(join(work, 'out-'));
  await succeeds(kiln(['build', '--progress', 'plain', '--build-arg', `BASE=${BASE}`, '-o', `type=local,dest=${out}`, ...args, ctx], opts));
  return out;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-build-features-'));
  store = join(work, 'store');
  canRun = isRoot && busyboxWorks();
  if (!canRun) return;
  execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
  await succeeds(kiln(['build', '-q', '-t', BASE, join(repoRoot, 'examples/busybox')]));
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

test('ONBUILD triggers of a base image run before the stage\'s own instructions, once', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const parent = join(work, 'onbuild-parent');
  await writeFiles(parent, { Dockerfile: 'ARG BASE\nFROM ${BASE}\nONBUILD COPY hook.txt /hook.txt\nONBUILD RUN echo triggered >> /log.txt\n' });
  await succeeds(kiln(['build', '-q', '--build-arg', `BASE=${BASE}`, '-t', 'onbuild-parent', parent]));
  const child = join(work, 'onbuild-child');
  await writeFiles(child, { Dockerfile: 'FROM onbuild-parent\nRUN echo own >> /log.txt\n', 'hook.txt': 'hooked\n' });
  const out = await rootfsOf(child, ['-t', 'onbuild-child']);
  assert.equal(await readFile(join(out, 'hook.txt'), 'utf8'), 'hooked\n');
  assert.equal(await readFile(join(out, 'log.txt'), 'utf8'), 'triggered\nown\n');
  const cfg = JSON.parse((await succeeds(kiln(['inspect', 'onbuild-child']))).stdout) as { Config: { OnBuild?: string[] | null } }[];
  assert.ok(!cfg[0]?.Config.OnBuild || cfg[0].Config.OnBuild.length === 0, 'triggers were inherited by the child');
});

test('a stage read only by an inherited ONBUILD trigger is built first', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const parent = join(work, 'onbuild-from-parent');
  await writeFiles(parent, { Dockerfile: 'ARG BASE\nFROM ${BASE}\nONBUILD COPY --from=builder /made /made\n' });
  await succeeds(kiln(['build', '-q', '--build-arg', `BASE=${BASE}`, '-t', 'onbuild-from-parent', parent]));
  // Nothing in the child's own instructions reads `builder`: only the trigger does.
  const child = join(work, 'onbuild-from-child');
  await writeFiles(child, { Dockerfile: 'ARG BASE\nFROM ${BASE} AS builder\nRUN echo made-by-builder > /made\nFROM onbuild-from-parent\n' });
  const out = await rootfsOf(child);
  assert.equal(await readFile(join(out, 'made'), 'utf8'), 'made-by-builder\n');
  // The same through a stage of the recipe that declares the trigger itself.
  const local = join(work, 'onbuild-from-stage');
  await writeFiles(local, { Dockerfile: 'ARG BASE\nFROM ${BASE} AS builder\nRUN echo from-stage > /made\nFROM ${BASE} AS parent\nONBUILD COPY --from=builder /made /made\nFROM parent\n' });
  assert.equal(await readFile(join(await rootfsOf(local), 'made'), 'utf8'), 'from-stage\n');
});

test('a stage of 70 layers: COPY sees the whole stack, and RUN runs on it', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  // Each COPY adds a layer; the snapshot paths of 70 layers overflow one page of mount options.
  const ctx = join(work, 'deep');
  const files: Record<string, string> = {};
  let dockerfile = 'ARG BASE\nFROM ${BASE}\n';
  for (let i = 0; i < 70; i++) {
    files[`f${i}`] = `${i}\n`;
    dockerfile += `COPY f${i} /layers/f${i}\n`;
  }
  dockerfile += 'COPY --chown=nobody f0 /layers/owned\nRUN cat /layers/f0 /layers/f69 > /ends && ls /layers | wc -l > /count\n';
  await writeFiles(ctx, { ...files, Dockerfile: dockerfile });
  const out = await rootfsOf(ctx);
  assert.equal(await readFile(join(out, 'ends'), 'utf8'), '0\n69\n');
  assert.equal((await readFile(join(out, 'count'), 'utf8')).trim(), '71');
  assert.equal((await stat(join(out, 'layers', 'owned'))).uid, 65534);
});

test('named contexts serve FROM and COPY --from; a symlink out of the context is not followed', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'named');
  const extra = join(work, 'named-extra');
  await writeFiles(extra, { 'lib/data.txt': 'from the named context\n' });
  await writeFiles(ctx, { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY --from=extra lib/data.txt /data.txt\nCOPY link /link-target\n' });
  execFileSync('ln', ['-s', '/etc/hostname', join(ctx, 'link')]);
  const r = await kiln(['build', '--build-arg', `BASE=${BASE}`, '--build-context', `extra=${extra}`, ctx]);
  assert.notEqual(r.code, 0, 'a symlink to the host was followed');
  assert.match(r.stderr, /Dockerfile:4:1: .*link.*not found/);
  await writeFiles(ctx, { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY --from=extra lib/data.txt /data.txt\n' });
  const out = await rootfsOf(ctx, ['--build-context', `extra=${extra}`]);
  assert.equal(await readFile(join(out, 'data.txt'), 'utf8'), 'from the named context\n');
  const fromCtx = join(work, 'named-from');
  await writeFiles(fromCtx, { Dockerfile: 'FROM extra\n' });
  const out2 = await rootfsOf(fromCtx, ['--build-context', `extra=${extra}`]);
  assert.equal(await readFile(join(out2, 'lib/data.txt'), 'utf8'), 'from the named context\n');
});

test('-f - reads the Dockerfile from stdin; -f elsewhere uses its own NAME.dockerignore instead of the context\'s', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'dfile');
  await writeFiles(ctx, { 'a.txt': 'a\n', 'b.txt': 'b\n', '.dockerignore': 'a.txt\n' });
  const viaStdin = await rootfsOf(ctx, ['-f', '-'], { input: 'ARG BASE\nFROM ${BASE}\nCOPY *.txt /got/\n' });
  assert.deepEqual(await readdir(join(viaStdin, 'got')), ['b.txt']);
  const elsewhere = join(work, 'dfile-recipes');
  await writeFiles(elsewhere, { 'build.Dockerfile': 'ARG BASE\nFROM ${BASE}\nCOPY *.txt /got/\n', 'build.Dockerfile.dockerignore': 'b.txt\n' });
  const viaFile = await rootfsOf(ctx, ['-f', join(elsewhere, 'build.Dockerfile')]);
  assert.deepEqual(await readdir(join(viaFile, 'got')), ['a.txt']);
});

test('a secret is readable in RUN and absent from every layer; a cache mount persists across builds', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'secret');
  const secretFile = join(work, 'token.txt');
  await writeFiles(work, { 'token.txt': 's3cr3t-value\n' });
  await writeFiles(ctx, {
    Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /len.txt\n'
      + 'RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /count.txt\n'
      + 'RUN --mount=type=secret,id=token,env=TOKEN test "$(printf %s \"$TOKEN\" | wc -c)" -eq 12 && echo env-ok > /env.txt\n'
      + 'RUN --mount=type=bind,source=.,target=/ctx,rw echo scribble > /ctx/Dockerfile && cat /ctx/Dockerfile > /rw.txt\n'
      + 'RUN --mount=type=cache,id=l,target=/l,sharing=locked --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs.txt\n',
  });
  const archive = join(work, 'secret.tar');
  const out1 = await rootfsOf(ctx, ['--no-cache', '--secret', `id=token,src=${secretFile}`, '-t', 'secret-img']);
  assert.equal((await readFile(join(out1, 'len.txt'), 'utf8')).trim(), '13');
  await assert.rejects(stat(join(out1, 'run/secrets/token')));
  await succeeds(kiln(['save', '-o', archive, 'secret-img']));
  assert.ok(!(await readFile(archive)).includes('s3cr3t-value'), 'the secret is in the archive');
  const out2 = await rootfsOf(ctx, ['--no-cache', '--secret', `id=token,src=${secretFile}`]);
  assert.equal((await readFile(join(out2, 'count.txt'), 'utf8')).trim(), '2');
  assert.equal(await readFile(join(out2, 'env.txt'), 'utf8'), 'env-ok\n');
  assert.equal(await readFile(join(out2, 'rw.txt'), 'utf8'), 'scribble\n');
  assert.match(await readFile(join(ctx, 'Dockerfile'), 'utf8'), /^ARG BASE/, 'a rw bind wrote through to the context');
  assert.equal(await readFile(join(out2, 'tmpfs.txt'), 'utf8'), 'x\n');
  await assert.rejects(stat(join(out2, 'scratch/x')), 'tmpfs content reached the layer');
});

test('a cache mount with sharing=locked is held by one build at a time, across kiln processes', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  // Each build claims the cache by making a directory in it, holds it a while and gives it
  // back: if two builds were inside at once, the second mkdir would fail the build.
  const builds = [1, 2].map(async (n) => {
    const ctx = join(work, `locked-${n}`);
    await writeFiles(ctx, { Dockerfile: `ARG BASE\nFROM \${BASE}\nRUN --mount=type=cache,id=held-across,target=/c,sharing=locked mkdir /c/inside && echo ${n} > /who && sleep 2 && rmdir /c/inside\n` });
    return kiln(['build', '-q', '--no-cache', '--build-arg', `BASE=${BASE}`, ctx]);
  });
  for (const r of await Promise.all(builds)) await succeeds(Promise.resolve(r));
});

test('ADD unpacks plain, gzip, bzip2 and xz tars by content, and fetches a URL checked by --checksum', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'add');
  await writeFiles(ctx, { 'src/inner/file.txt': 'packed\n' });
  execFileSync('tar', ['-C', join(ctx, 'src'), '-cf', join(ctx, 'plain.tar'), 'inner']);
  execFileSync('sh', ['-c', `cd "${ctx}" && gzip -c plain.tar > archive.gz.bin && bzip2 -c plain.tar > a.bz2 && xz -c plain.tar > a.xz && cp plain.tar not-a-tar-name.dat && echo text > notes.tar`]);
  const server: Server = createServer((_req, res) => { res.setHeader('Last-Modified', 'Mon, 06 May 2024 07:08:09 GMT'); res.end('downloaded\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as AddressInfo).port;
    const digest = execFileSync('sh', ['-c', 'printf "downloaded\\n" | sha256sum | cut -d" " -f1'], { encoding: 'utf8' }).trim();
    await writeFiles(ctx, {
      Dockerfile: ['ARG BASE', 'FROM ${BASE}', 'ADD plain.tar /p/', 'ADD archive.gz.bin /g/', 'ADD a.bz2 /b/', 'ADD a.xz /x/', 'ADD not-a-tar-name.dat /d/',
        'ADD notes.tar /n/', `ADD --checksum=sha256:${digest} http://127.0.0.1:${port}/dl/file.txt /u/`, ''].join('\n'),
    });
    const out = await rootfsOf(ctx);
    for (const d of ['p', 'g', 'b', 'x', 'd']) assert.equal(await readFile(join(out, d, 'inner/file.txt'), 'utf8'), 'packed\n', d);
    assert.equal(await readFile(join(out, 'n/notes.tar'), 'utf8'), 'text\n', 'a file named .tar that is not one is copied');
    assert.equal(await readFile(join(out, 'u/file.txt'), 'utf8'), 'downloaded\n');
    const st = await stat(join(out, 'u/file.txt'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.mtime.toISOString(), '2024-05-06T07:08:09.000Z');
  } finally {
    server.close();
  }
});

test('--target builds only what that stage needs; a failing RUN stops the build with its exit code and output, leaving no mounts', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'target');
  await writeFiles(ctx, { Dockerfile: 'ARG BASE\nFROM ${BASE} AS ok\nRUN echo fine > /ok.txt\nFROM ${BASE} AS broken\nRUN echo about to fail; exit 7\n' });
  const out = await rootfsOf(ctx, ['--target', 'ok']);
  assert.equal(await readFile(join(out, 'ok.txt'), 'utf8'), 'fine\n');
  const mountsBefore = await readFile('/proc/self/mountinfo', 'utf8');
  const r = await kiln(['build', '--progress', 'plain', '--build-arg', `BASE=${BASE}`, ctx]);
  assert.equal(r.code, 7);
  assert.match(r.stderr, /Dockerfile:5:1: process .* did not complete successfully: exit code: 7/);
  assert.match(r.stderr, /about to fail/);
  const mountsAfter = await readFile('/proc/self/mountinfo', 'utf8');
  assert.equal(mountsAfter.split('\n').filter((l) => l.includes(store)).length, mountsBefore.split('\n').filter((l) => l.includes(store)).length);
  const tmp = await readdir(join(store, 'tmp'));
  assert.deepEqual(tmp, [], 'scratch dirs left behind');
});

test('--output type=oci and type=docker write archives skopeo reads, without a separate save', async (t) => {
  if (!prerequisite(t, canRun && hasCommand('skopeo'), 'needs root, /bin/busybox and skopeo')) return;
  const ctx = join(work, 'outputs');
  await writeFiles(ctx, { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY f /f\n', f: 'f\n' });
  const oci = join(work, 'out-oci.tar');
  const docker = join(work, 'out-docker.tar');
  const id = (await succeeds(kiln(['build', '-q', '--build-arg', `BASE=${BASE}`, '-t', 'outputs:1', '-o', `type=oci,dest=${oci}`, '-o', `type=docker,dest=${docker}`, ctx]))).stdout.trim();
  for (const ref of [`oci-archive:${oci}`, `docker-archive:${docker}`]) {
    const r = await succeeds(runCommand('skopeo', ['inspect', '--config', ref]));
    const config = JSON.parse(r.stdout) as { rootfs: { diff_ids: string[] } };
    assert.equal(config.rootfs.diff_ids.length, 2, ref);
  }
  const viaDocker = JSON.parse((await succeeds(runCommand('skopeo', ['inspect', `docker-archive:${docker}`]))).stdout) as { Digest: string };
  assert.ok(viaDocker.Digest.startsWith('sha256:'));
  assert.match(id, /^sha256:/);
});
