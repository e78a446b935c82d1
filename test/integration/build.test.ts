/**
 * `kiln build` end to end: the examples, a multi-stage recipe using ARG/ENV expansion, COPY
 * flags, .dockerignore and every metadata instruction with RUN; the archive docker, podman
 * and skopeo accept; a comparison with what docker's BuildKit builds from the same recipe;
 * byte-identical archives with SOURCE_DATE_EPOCH; errors that point into the Dockerfile.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm, stat, utimes, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { dockerAvailable, hasCommand, isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runCommand, runKiln, succeeds, writeFiles, type Result } from '../support/kilnProcess.js';

const DOCKER = '/usr/bin/docker';
const suffix = `${process.pid}`;
let work = '';
let root = '';
let canRun = false;
let haveDocker = false;
const cleanupDockerImages: string[] = [];

const run = runCommand;
const kiln = (args: string[], opts: { cwd?: string; storeRoot?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> =>
  runKiln(opts.storeRoot ?? root, args, { ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.env ? { env: opts.env } : {}) });
const ok = succeeds;
const files = writeFiles;

interface Inspected { Id: string; Config: Record<string, unknown>; RootFS: { Layers: string[] } }

async function inspect(ref: string): Promise<Inspected> {
  const r = await ok(kiln(['inspect', ref]));
  return (JSON.parse(r.stdout) as Inspected[])[0] as Inspected;
}

function busyboxWorks(): boolean {
  try { execFileSync('/bin/busybox', ['true']); return true; } catch { return false; }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-build-it-'));
  root = join(work, 'store');
  canRun = isRoot && busyboxWorks();
  haveDocker = canRun && dockerAvailable();
  if (canRun) execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
});

after(async () => {
  for (const img of cleanupDockerImages) await run(DOCKER, ['rmi', '-f', img]);
  if (work !== '') await rm(work, { recursive: true, force: true });
});

const BASE = `kiln-busybox-it${suffix}`;

test('the busybox example builds; -q prints only the image ID', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const r = await ok(kiln(['build', '-q', '-t', BASE, join(repoRoot, 'examples/busybox')]));
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const img = await inspect(BASE);
  assert.equal(img.Id, r.stdout.trim());
  assert.deepEqual(img.Config.Cmd, ['sh']);
});

test('the multi-stage example builds FROM the busybox base and skips the stage it does not need', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const r = await ok(kiln(['build', '--progress', 'plain', '--build-arg', `BASE=${BASE}`, '-t', `kiln-multistage-it${suffix}`, join(repoRoot, 'examples/multistage')]));
  assert.doesNotMatch(r.stderr, /exit 1/, 'the unused stage ran');
  const img = await inspect(`kiln-multistage-it${suffix}`);
  assert.equal(img.Config.User, 'app');
  assert.deepEqual(img.Config.Cmd, ['cat', 'message.txt']);
});

const FULL_RECIPE = [
  'ARG BASE',
  'ARG VARIANT=plain',
  '',
  'FROM ${BASE} AS builder',
  'ARG VARIANT',
  'ARG NAME=world',
  'ENV GREETING="hello ${NAME}" APP_HOME=/opt/app',
  'WORKDIR $APP_HOME',
  'COPY --chmod=755 scripts/ ./scripts/',
  'COPY app/ ./',
  'RUN ./scripts/build.sh "$VARIANT" > build-info.txt && echo "$GREETING" > greeting.txt',
  'RUN <<EOF',
  'mkdir -p /out/lib/x',
  'echo lib > /out/lib/x/a.txt',
  'chmod 600 /out/lib/x/a.txt',
  'EOF',
  '',
  'FROM ${BASE} AS unused',
  'RUN exit 3',
  '',
  'FROM ${BASE}',
  'LABEL org.example.title="kiln test" org.example.variant=x$VARIANT',
  'ENV APP=/srv/app',
  'WORKDIR ${APP}',
  'COPY --from=builder --chown=app:staff /opt/app/greeting.txt /opt/app/build-info.txt ./',
  'COPY --from=0 --chmod=u=rwX,go=rX /out/ /srv/out/',
  'COPY --parents data/./nested/*.txt ./tree/',
  'COPY --exclude=*.log logs/ ./nolog/',
  'COPY --link notes.txt /srv/notes.txt',
  'COPY <<EOT /srv/hello.txt',
  'hello from heredoc ${APP}',
  'EOT',
  'EXPOSE 8080 9000-9001/udp',
  'VOLUME /data',
  'USER app:app',
  'STOPSIGNAL SIGTERM',
  'HEALTHCHECK --interval=30s --timeout=5s CMD ["true"]',
  'ENTRYPOINT ["/bin/sh", "-c"]',
  'CMD ["cat /srv/app/greeting.txt /srv/hello.txt"]',
  '',
].join('\n');

async function fullContext(dir: string): Promise<void> {
  await files(dir, {
    Dockerfile: FULL_RECIPE,
    '.dockerignore': 'app/secret.txt\n**/*.tmp\n',
    'scripts/build.sh': '#!/bin/sh\necho "variant=$1 name=$NAME"\n',
    'app/main.txt': 'main\n',
    'app/secret.txt': 'do not copy\n',
    'app/cache.tmp': 'tmp\n',
    'data/nested/1.txt': 'one\n',
    'data/nested/2.txt': 'two\n',
    'logs/keep.txt': 'keep\n',
    'logs/drop.log': 'drop\n',
    'notes.txt': 'notes\n',
  });
}

test('a multi-stage recipe: ARG/ENV expansion, COPY flags, .dockerignore, heredocs and metadata', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'full');
  await fullContext(ctx);
  const out = join(work, 'full-rootfs');
  const r = await ok(kiln(['build', '--progress', 'plain', '--build-arg', `BASE=${BASE}`, '--build-arg', 'NAME=kiln', '-t', `kiln-full-it${suffix}`, '-o', `type=local,dest=${out}`, ctx]));
  assert.doesNotMatch(r.stderr, /exit 3/, 'the unused stage ran');
  const c = (await inspect(`kiln-full-it${suffix}`)).Config;
  assert.ok((c.Env as string[]).includes('APP=/srv/app'));
  assert.ok(!(c.Env as string[]).some((e) => e.startsWith('GREETING=')), 'ENV of another stage leaked');
  assert.equal(c.WorkingDir, '/srv/app');
  assert.equal(c.User, 'app:app');
  assert.deepEqual(c.Labels, { 'org.example.title': 'kiln test', 'org.example.variant': 'x' });
  assert.deepEqual(Object.keys(c.ExposedPorts as object).sort(), ['8080/tcp', '9000/udp', '9001/udp']);
  assert.deepEqual(c.Volumes, { '/data': {} });
  assert.equal(c.StopSignal, 'SIGTERM');
  assert.deepEqual(c.Healthcheck, { Test: ['CMD', 'true'], Interval: 30e9, Timeout: 5e9 });
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(c.Cmd, ['cat /srv/app/greeting.txt /srv/hello.txt']);

  assert.equal(await readFile(join(out, 'srv/app/greeting.txt'), 'utf8'), 'hello kiln\n');
  assert.equal(await readFile(join(out, 'srv/app/build-info.txt'), 'utf8'), 'variant=plain name=kiln\n');
  const g = await stat(join(out, 'srv/app/greeting.txt'));
  assert.deepEqual([g.uid, g.gid], [1000, 50]);
  assert.equal((await stat(join(out, 'srv/out/lib/x/a.txt'))).mode & 0o777, 0o644, 'u=rwX,go=rX of a 0600 file');
  assert.equal((await stat(join(out, 'srv/out/lib/x'))).mode & 0o777, 0o755);
  assert.deepEqual((await readdir(join(out, 'srv/app/tree/nested'))).sort(), ['1.txt', '2.txt']);
  assert.deepEqual(await readdir(join(out, 'srv/app/nolog')), ['keep.txt']);
  assert.equal(await readFile(join(out, 'srv/hello.txt'), 'utf8'), 'hello from heredoc /srv/app\n');
  assert.equal(await readFile(join(out, 'srv/notes.txt'), 'utf8'), 'notes\n');
});

test('kiln save → docker load keeps the image ID; docker run prints what kiln run prints; podman and skopeo accept the archives', async (t) => {
  if (!prerequisite(t, haveDocker, 'needs root, busybox-static and a running dockerd')) return;
  if (!prerequisite(t, hasCommand('podman') && hasCommand('skopeo'), 'needs podman and skopeo')) return;
  const name = `kiln-multistage-it${suffix}`;
  const img = await inspect(name);
  const archive = join(work, 'ms.tar');
  await ok(kiln(['save', '-o', archive, name]));
  await ok(run(DOCKER, ['load', '-i', archive]));
  cleanupDockerImages.push(`${name}:latest`);
  const dockerId = (await ok(run(DOCKER, ['image', 'inspect', '--format', '{{.Id}}', name]))).stdout.trim();
  assert.equal(dockerId, img.Id);
  const dockerOut = (await ok(run(DOCKER, ['run', '--rm', '--network', 'none', name]))).stdout;
  assert.match(dockerOut, /hello from a kiln multi-stage build/);
  const kilnRun = await ok(kiln(['run', '--rm', name]));
  assert.equal(kilnRun.stdout, dockerOut);

  const sk = JSON.parse((await ok(run('skopeo', ['inspect', `docker-archive:${archive}`]))).stdout) as { Layers: string[] };
  assert.deepEqual(sk.Layers, img.RootFS.Layers);
  const oci = join(work, 'ms-oci.tar');
  await ok(kiln(['save', '--format', 'oci', '-o', oci, name]));
  await ok(run('skopeo', ['inspect', `oci-archive:${oci}`]));
  const pod = await ok(run('podman', ['load', '-i', archive]));
  assert.match(pod.stdout + pod.stderr, /Loaded image/);
  await run('podman', ['rmi', '-f', `docker.io/library/${name}:latest`]);
});

/** What an image's root filesystem holds: path, type, mode, owner, size, link (not mtimes). */
async function dockerRootfsListing(image: string): Promise<string[]> {
  const id = (await ok(run(DOCKER, ['create', image]))).stdout.trim();
  try {
    const tarPath = join(work, `export-${id}.tar`);
    await ok(run(DOCKER, ['export', '-o', tarPath, id]));
    const list = (await ok(run('tar', ['--numeric-owner', '-tvf', tarPath]))).stdout.split('\n').filter((l) => l !== '');
    return list.map((l) => l.replace(/\s+\d{4}-\d\d-\d\d \d\d:\d\d/, '').replace(/\s+/g, ' '))
      .filter((l) => !/ (\.dockerenv|etc\/hostname|etc\/hosts|etc\/resolv\.conf|etc\/mtab|dev\/.*|proc\/.*|sys\/.*)$/.test(l))
      .sort();
  } finally {
    await run(DOCKER, ['rm', '-f', id]);
  }
}

const COMPARE_RECIPE = [
  'ARG BASE',
  'FROM ${BASE} AS build',
  'ARG MSG=compare',
  'ENV OUT=/out',
  'WORKDIR /work',
  'COPY src/ ./src/',
  'RUN mkdir -p $OUT && cat src/a.txt > $OUT/a.txt && echo "$MSG" > $OUT/msg.txt',
  'FROM ${BASE}',
  'LABEL k1=v1 k2="v 2"',
  'ARG FINAL=yes',
  'ENV APP=/app PATH=/app/bin:$PATH',
  'RUN echo "$FINAL" > /final.txt && mkdir -p /var/empty-dir',
  'WORKDIR $APP',
  'COPY --from=build --chown=app:staff /out/ ./',
  'COPY --chmod=0755 run.sh bin/run.sh',
  'EXPOSE 80 53/udp',
  'VOLUME ["/data"]',
  'USER app',
  'STOPSIGNAL SIGINT',
  'HEALTHCHECK --interval=10s CMD ["true"]',
  'ENTRYPOINT ["/bin/sh"]',
  'CMD ["-c", "cat /app/msg.txt"]',
  '',
].join('\n');

test('config, history and root filesystem match what docker build (BuildKit) makes of the same recipe', async (t) => {
  if (!prerequisite(t, haveDocker, 'needs root, busybox-static and a running dockerd')) return;
  const ctx = join(work, 'compare');
  await files(ctx, { Dockerfile: COMPARE_RECIPE, 'src/a.txt': 'a\n', 'run.sh': 'echo run\n' });
  // The same base in both: kiln's busybox image loaded into docker.
  const baseArchive = join(work, 'base.tar');
  await ok(kiln(['save', '-o', baseArchive, BASE]));
  await ok(run(DOCKER, ['load', '-i', baseArchive]));
  cleanupDockerImages.push(`${BASE}:latest`);
  const kilnName = `kiln-compare-kiln${suffix}`;
  const dockerName = `kiln-compare-docker${suffix}`;
  await ok(kiln(['build', '--build-arg', `BASE=${BASE}`, '-t', kilnName, ctx]));
  await ok(run(DOCKER, ['build', '--build-arg', `BASE=${BASE}`, '-t', dockerName, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '1' } }));
  cleanupDockerImages.push(dockerName);
  const archive = join(work, 'compare.tar');
  await ok(kiln(['save', '-o', archive, kilnName]));
  await ok(run(DOCKER, ['load', '-i', archive]));
  cleanupDockerImages.push(`${kilnName}:latest`);

  type DockerInspect = { Config: Record<string, unknown>; Os: string; Architecture: string };
  const look = async (n: string) => (JSON.parse((await ok(run(DOCKER, ['image', 'inspect', n]))).stdout) as DockerInspect[])[0] as DockerInspect;
  const k = await look(kilnName);
  const d = await look(dockerName);
  for (const field of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell']) {
    assert.deepEqual(k.Config[field] ?? null, d.Config[field] ?? null, `Config.${field}`);
  }
  assert.equal(k.Os, d.Os);
  assert.equal(k.Architecture, d.Architecture);
  const history = async (n: string) => (await ok(run(DOCKER, ['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', n]))).stdout;
  // kiln writes history as BuildKit v0.24 does (test/differential): docker 20.10's BuildKit
  // leaves --chown/--chmod out of COPY lines and prints HEALTHCHECK without StartInterval.
  const asDocker2010 = (h: string): string => h
    .replace(/^((?:COPY|ADD)(?: --parents)?)(?: --chown=\S+)?(?: --chmod=\S+)?/gm, '$1')
    .replace(/^(HEALTHCHECK &\{.*?(?: "[^"]*"){2} "[^"]*") "[^"]*"( '.*'\})/gm, '$1$2');
  assert.equal(asDocker2010(await history(kilnName)), await history(dockerName));
  assert.deepEqual(await dockerRootfsListing(kilnName), await dockerRootfsListing(dockerName));
});

test('two builds in two empty stores give byte-identical archives with SOURCE_DATE_EPOCH, whatever the context mtimes', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'repro');
  await fullContext(ctx);
  const archives: Buffer[] = [];
  for (const i of [1, 2]) {
    const store = join(work, `repro-store-${i}`);
    const when = new Date(Date.now() - i * 86_400_000);
    for (const f of ['notes.txt', 'app/main.txt', 'scripts/build.sh', 'data/nested/1.txt']) await utimes(join(ctx, f), when, when);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    await ok(kiln(['build', '-q', '-t', BASE, join(repoRoot, 'examples/busybox')], { storeRoot: store, env }));
    const out = join(work, `repro-${i}.tar`);
    await ok(kiln(['build', '-q', '--build-arg', `BASE=${BASE}`, '-t', 'repro:1', '-o', `type=docker,dest=${out}`, ctx], { storeRoot: store, env }));
    archives.push(await readFile(out));
  }
  assert.ok((archives[0] as Buffer).equals(archives[1] as Buffer), 'archives differ');
});

test('without SOURCE_DATE_EPOCH an unchanged recipe and context still rebuild to identical bytes; created is the newest input', async (t) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  const ctx = join(work, 'repro-plain');
  await fullContext(ctx);
  const newest = new Date('2024-05-06T07:08:09Z');
  await utimes(join(ctx, 'notes.txt'), newest, newest);
  const archives: Buffer[] = [];
  for (const i of [1, 2]) {
    const store = join(work, `repro-plain-store-${i}`);
    await ok(kiln(['build', '-q', '-t', BASE, join(repoRoot, 'examples/busybox')], { storeRoot: store }));
    const out = join(work, `repro-plain-${i}.tar`);
    await ok(kiln(['build', '-q', '--build-arg', `BASE=${BASE}`, '-t', 'repro:1', '-o', `type=docker,dest=${out}`, ctx], { storeRoot: store }));
    archives.push(await readFile(out));
    if (i === 1) await new Promise((r) => setTimeout(r, 1100));
  }
  assert.ok((archives[0] as Buffer).equals(archives[1] as Buffer), 'archives differ');
  const created = (JSON.parse((await ok(kiln(['inspect', '--format', '{{json .Created}}', 'repro:1'], { storeRoot: join(work, 'repro-plain-store-1') }))).stdout) as string);
  assert.ok(created >= '2024-05-06T07:08:09', created);
});

async function expectLocatedError(recipe: string, extra: Record<string, string>, where: string, message: RegExp): Promise<void> {
  const ctx = await mkdtemp(join(work, 'err-'));
  await files(ctx, { Dockerfile: recipe, ...extra });
  const r = await kiln(['build', '--progress', 'plain', '--build-arg', `BASE=${BASE}`, '.'], { cwd: ctx });
  assert.notEqual(r.code, 0);
  const line = r.stderr.split('\n').find((l) => l.startsWith('Dockerfile:'));
  assert.ok(line, `no located error in:\n${r.stderr}`);
  assert.ok(line.startsWith(`Dockerfile:${where}: `), line);
  assert.match(line, message);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'a stack trace for a user mistake');
}

test('errors point into the Dockerfile: missing COPY source, unknown --from, unknown --chown user, ADD checksum mismatch, image not found', async (t: TestContext) => {
  if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
  await expectLocatedError('ARG BASE\nFROM ${BASE}\nCOPY nothere.txt /x\n', {}, '3:1', /nothere\.txt.*not found/);
  await expectLocatedError('ARG BASE\nFROM ${BASE}\nRUN true\nCOPY --from=localhost:1/nostage /a /b\n', {}, '4:1', /no stage, named context or image/);
  await expectLocatedError('ARG BASE\nFROM ${BASE}\nCOPY --chown=ghost f /f\n', { f: 'x' }, '3:1', /unable to find user ghost/);
  await expectLocatedError('FROM localhost:1/kiln-no-such-image:1\nRUN true\n', {}, '1:1', /image not found/);
  const server = createServer((_req, res) => { res.end('payload\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as AddressInfo).port;
    await expectLocatedError(`ARG BASE\nFROM \${BASE}\n\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/f.txt /f.txt\n`, {}, '4:1', /digest mismatch/);
  } finally {
    server.close();
  }
});
