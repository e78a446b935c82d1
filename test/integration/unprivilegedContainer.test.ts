/**
 * kiln inside an unprivileged CI container: `docker run` with docker's default seccomp profile
 * and capabilities (no CAP_SYS_ADMIN: no namespace, no mount), node and this checkout bound in
 * read-only. As root there, `kiln build` takes chroot isolation and the copy snapshotter by
 * itself, says so once, and builds a multi-stage recipe with RUN, COPY --from and a cache mount
 * to the same image ID as the same build outside with namespaces and overlay; its `kiln save`
 * loads in docker and runs. As a uid with no passwd entry (no capability, no user namespace),
 * kiln finds a store it can write, keeps the layers' owners beside its copied roots and gives
 * RUN steps the image's root with proot: the same image ID again; without proot, one line.
 * `kiln run` there stops in one line before it makes anything, for both users.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerAvailable, isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runCommand, runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

const DOCKER = '/usr/bin/docker';
const NAME = `kiln-ci-it-${process.pid}`;
const BASE_TAG = `${NAME}/busybox:local`;
const OUT_TAG = `${NAME}/greeting:built-inside`;
const EPOCH = '1700000000';
let work = '';
const RUN_REFUSAL = (why: string): string => `kiln: kiln run needs new namespaces for a container and the kernel refused them here (${why}): kiln run has no weaker isolation to fall back to; run it where the job's container allows namespaces, while kiln build works here (--isolation chroot, which auto picks)`;
const RUN_REFUSED_AS_ROOT = RUN_REFUSAL('kiln holds no CAP_SYS_ADMIN, which every new namespace needs');
let ready = false;
const dockerImages: string[] = [];

const RECIPE = `FROM ${BASE_TAG} AS build
WORKDIR /src
COPY greet.sh ./
RUN --mount=type=cache,target=/root/.cache sh greet.sh hello > message.txt && echo ran >> /root/.cache/log
RUN mkdir -p /out && cp message.txt /out/ && chmod 600 /out/message.txt && rm -rf /tmp && ln -s /out/message.txt /out/latest

# Stages whose first RUN asks for the isolation at the same time: auto decides (and says) once.
FROM ${BASE_TAG} AS side1
RUN echo 1 > /side
FROM ${BASE_TAG} AS side2
RUN echo 2 > /side
FROM ${BASE_TAG} AS side3
RUN echo 3 > /side

FROM ${BASE_TAG}
COPY --from=build --chown=app:app /out/ /home/app/
COPY --from=side1 /side /side1
COPY --from=side2 /side /side2
COPY --from=side3 /side /side3
RUN echo done > /done && rm -rf /var && mkdir /var && echo v > /var/v && rm /etc/group && echo "root:x:0:" > /etc/group
CMD ["cat", "/home/app/message.txt"]
`;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-ci-it-'));
  chmodSync(work, 0o755);
  ready = isRoot && existsSync('/bin/busybox') && dockerAvailable();
  if (!ready) return;
  execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
  await writeFiles(join(work, 'ctx'), { Dockerfile: RECIPE, 'greet.sh': 'echo "$1 from a CI container"\n' });
  // The base image, tagged uniquely, as an archive for the store inside and for docker.
  const store = join(work, 'outside');
  await succeeds(runKiln(store, ['build', '-q', '-t', BASE_TAG, join(repoRoot, 'examples/busybox')]));
  execFileSync('mkdir', ['-p', join(work, 'in')]);
  await succeeds(runKiln(store, ['save', '-o', join(work, 'in', 'base.tar'), BASE_TAG]));
  await succeeds(runCommand(DOCKER, ['load', '-i', join(work, 'in', 'base.tar')]));
  dockerImages.push(BASE_TAG);
  execFileSync('chmod', ['-R', 'a+rX', work]);
});

after(async () => {
  for (const name of [`${NAME}-root`, `${NAME}-user`]) await runCommand(DOCKER, ['rm', '-f', name]);
  for (const img of dockerImages) await runCommand(DOCKER, ['rmi', '-f', img]);
  if (work !== '') await rm(work, { recursive: true, force: true });
});

/** The same kiln, node and host libraries inside a container of the busybox image, default profile. */
function dockerRun(name: string, user: string | undefined, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = join(work, `out-${name}`);
  execFileSync('mkdir', ['-p', out]);
  chmodSync(out, 0o777);
  return runCommand(DOCKER, [
    'run', '--rm', '--name', `${NAME}-${name}`, '--network', 'none', ...(user ? ['--user', user] : []),
    '-v', '/usr:/usr:ro', '-v', '/usr/lib:/lib:ro', '-v', '/usr/lib64:/lib64:ro',
    '-v', `${repoRoot}:${repoRoot}:ro`, '-v', `${join(work, 'in')}:/in:ro`, '-v', `${join(work, 'ctx')}:/ctx:ro`, '-v', `${out}:/out`,
    '-e', `SOURCE_DATE_EPOCH=${EPOCH}`, '-e', `KILN=${join(repoRoot, 'bin', 'kiln')}`,
    BASE_TAG, 'sh', '-c', script,
  ]);
}

let outside: Promise<string> | undefined;
/** The image ID of the recipe built on the host, as root, with namespaces and overlay. */
function outsideImageId(): Promise<string> {
  outside ??= succeeds(runKiln(join(work, 'outside'), ['build', '-q', '--isolation', 'namespaces', '--snapshotter', 'overlay', '-t', OUT_TAG, join(work, 'ctx')], { env: { SOURCE_DATE_EPOCH: EPOCH } }))
    .then((r) => r.stdout.trim());
  return outside;
}

test('as root in an unprivileged container: chroot isolation, copy snapshotter, the same image ID as outside', async (t) => {
  if (!prerequisite(t, ready, 'needs root, /bin/busybox and a docker daemon')) return;
  const outsideId = await outsideImageId();
  const r = await dockerRun('root', undefined, [
    'set -e', 'export KILN_ROOT=/tmp/kiln-store',
    'node "$KILN" load -i /in/base.tar >/dev/null',
    `node "$KILN" build -q -t ${OUT_TAG} /ctx > /out/id`,
    `node "$KILN" save -o /out/image.tar ${OUT_TAG}`,
    // kiln run has no weaker isolation to fall back to: one line for each thing refused.
    `node "$KILN" run --rm ${OUT_TAG} true 2> /out/run.err || echo $? > /out/run.code`,
    `node "$KILN" run --rm --network none ${OUT_TAG} true 2> /out/run-none.err || echo $? > /out/run-none.code`,
    `node "$KILN" run -d ${OUT_TAG} true 2> /out/run-d.err || echo $? > /out/run-d.code`,
    'node "$KILN" ps -aq > /out/ps',
  ].join('\n'));
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const insideId = readFileSync(join(work, 'out-root', 'id'), 'utf8').trim();
  assert.equal(insideId, outsideId, `inside: ${insideId}, outside: ${outsideId}\n${r.stderr}`);
  // auto said once, on one line, what it took and why.
  const said = r.stderr.split('\n').filter((l) => l.startsWith('kiln: isolation'));
  assert.equal(said.length, 1, r.stderr);
  assert.match(said[0] as string, /^kiln: isolation chroot: the kernel refused new namespaces \(clone: Operation not permitted\)/);
  assert.doesNotMatch(r.stderr, /internal error/);
  const refused = (name: string): { code: string; lines: string[] } => ({
    code: readFileSync(join(work, 'out-root', `${name}.code`), 'utf8').trim(),
    lines: readFileSync(join(work, 'out-root', `${name}.err`), 'utf8').trim().split('\n'),
  });
  // Decided before anything is made (no bridge, no cgroup note, no record): one line, exit 71.
  for (const name of ['run', 'run-none', 'run-d']) {
    const r = refused(name);
    assert.equal(r.code, '71', r.lines.join('\n'));
    assert.deepEqual(r.lines, [RUN_REFUSED_AS_ROOT]);
  }
  assert.equal(readFileSync(join(work, 'out-root', 'ps'), 'utf8'), '', 'a refused run leaves no container record');
  // Its archive loads in docker and runs.
  await succeeds(runCommand(DOCKER, ['load', '-i', join(work, 'out-root', 'image.tar')]));
  dockerImages.push(OUT_TAG);
  const ran = await succeeds(runCommand(DOCKER, ['run', '--rm', '--network', 'none', OUT_TAG]));
  assert.equal(ran.stdout, 'hello from a CI container\n');
});

test('as a uid without passwd entry in an unprivileged container: a store it can write, proot for RUN, the same image ID as outside', async (t) => {
  if (!prerequisite(t, ready, 'needs root, /bin/busybox and a docker daemon')) return;
  if (!prerequisite(t, existsSync('/usr/bin/proot'), 'needs proot (Debian package proot, from .ci/setup)')) return;
  const outsideId = await outsideImageId();
  const r = await dockerRun('user', '4242:4242', [
    'set -e',
    'node "$KILN" load -q -i /in/base.tar',
    `node "$KILN" build -q -t ${OUT_TAG} /ctx > /out/id`,
    `node "$KILN" save -o /out/image.tar ${OUT_TAG}`,
    `node "$KILN" run --rm ${BASE_TAG} true 2> /out/run.err || echo $? > /out/run.code`,
    // Without proot: one line saying what is missing, before anything is built.
    'node=$(command -v node); PATH=/nonexistent "$node" "$KILN" build -q /ctx 2> /out/no-proot.err || echo $? > /out/no-proot.code',
  ].join('\n'));
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  // Each command says once where its store is; the build says once which isolation it took.
  const NOTE = 'kiln: note: the home directory (/) is not writable: the store is /tmp/kiln-4242 (give --root DIR or set KILN_ROOT to keep images elsewhere)';
  const lines = r.stderr.trim().split('\n').filter((l) => l !== NOTE);
  assert.ok(r.stderr.startsWith(`${NOTE}\n`), r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, /^kiln: isolation chroot: no user namespace of kiln's own \(.*4242.*\); RUN steps run under proot in a copied root/);
  const insideId = readFileSync(join(work, 'out-user', 'id'), 'utf8').trim();
  assert.equal(insideId, outsideId, `inside: ${insideId}, outside: ${outsideId}`);
  // kiln run: decided before anything is made, one line (the clone of a user namespace refused).
  assert.equal(readFileSync(join(work, 'out-user', 'run.code'), 'utf8').trim(), '71');
  assert.equal(readFileSync(join(work, 'out-user', 'run.err'), 'utf8'), `${NOTE}\n${RUN_REFUSAL('clone: Operation not permitted')}\n`);
  assert.equal(readFileSync(join(work, 'out-user', 'no-proot.code'), 'utf8').trim(), '71');
  assert.match(readFileSync(join(work, 'out-user', 'no-proot.err'), 'utf8'), /^kiln: kiln build as uid 4242 needs root, or a user namespace of its own, .*or else proot \(Debian package proot\) on PATH[^\n]*\n$/);
  // Its archive loads in docker and runs.
  await succeeds(runCommand(DOCKER, ['load', '-i', join(work, 'out-user', 'image.tar')]));
  dockerImages.push(OUT_TAG);
  const ran = await succeeds(runCommand(DOCKER, ['run', '--rm', '--network', 'none', OUT_TAG]));
  assert.equal(ran.stdout, 'hello from a CI container\n');
});
