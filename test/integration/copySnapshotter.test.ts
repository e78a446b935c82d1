/**
 * The copy snapshotter (and chroot isolation, which uses it) against the overlay path: the same
 * recipe built in fresh stores with `--snapshotter overlay`, `--snapshotter copy` and
 * `--isolation chroot` gives the same image ID, layer for layer — whiteouts, opaque directories,
 * hard links, metadata-only changes, mount points and a cache mount included. The recipe is made
 * so that each of those shows in the layers (checked on the overlay build's archive).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

let work = '';
let canRun = false;

const RECIPE = `FROM kiln-busybox AS base
RUN mkdir -p /d/sub /e /f && echo a > /d/a && echo b > /d/sub/b && echo keep > /keep && echo x > /e/x && echo f > /f/y && ln /keep /keep2 && mkfifo /fifo && chmod 4755 /d/a
RUN rm -rf /d/sub && rm /keep && echo changed > /d/a && rm -rf /e && mkdir /e && echo new > /e/n && chmod 700 /f && touch /bin/busybox && mkdir -p /tmp/t && rm -rf /tmp/t
RUN rm /f/y && mkdir /f/y && echo in > /f/y/z && ln -sf /nowhere /d/link && rm -rf /home && mkdir /home && echo h > /home/h && echo p >> /etc/passwd
RUN --mount=type=cache,target=/root/.cache echo c >> /root/.cache/c && cat /root/.cache/c > /cached && mv /d /dd
RUN --mount=type=tmpfs,target=/scratch --mount=type=bind,source=.,target=/ctx echo t > /scratch/t && cat /ctx/in.txt > /ok
RUN true
FROM kiln-busybox
COPY --from=base /dd /dd
COPY --from=base /e /e
WORKDIR /w
RUN echo final > /w/final && chown 1000:1000 /w/final
`;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-copysnap-'));
  canRun = isRoot;
  if (!canRun) return;
  execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
  await writeFiles(join(work, 'ctx'), { Dockerfile: RECIPE, 'in.txt': 'from the context\n' });
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

/** Builds the recipe in a fresh store with the given flags; returns the image ID and the store. */
async function buildWith(name: string, flags: string[], target?: string): Promise<{ id: string; store: string }> {
  const store = join(work, name);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  await succeeds(runKiln(store, ['build', '-q', '-t', 'kiln-busybox', join(repoRoot, 'examples/busybox')], { env }));
  const r = await succeeds(runKiln(store, ['build', '-q', ...flags, ...(target ? ['--target', target] : []), '-t', 'copysnap', join(work, 'ctx')], { env }));
  return { id: r.stdout.trim(), store };
}

/** Every entry name of every layer of an image, by layer (read from its saved archive). */
async function layerEntries(store: string, ref: string): Promise<string[][]> {
  const archive = join(store, 'out.tar');
  await succeeds(runKiln(store, ['save', '-o', archive, ref]));
  const dir = join(store, 'out');
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const manifest = JSON.parse(execFileSync('cat', [join(dir, 'manifest.json')], { encoding: 'utf8' })) as { Layers: string[] }[];
  return (manifest[0]?.Layers ?? []).map((l) => execFileSync('tar', ['-tf', join(dir, l)], { encoding: 'utf8' }).split('\n').filter((n) => n !== ''));
}

for (const target of ['base', undefined]) {
  test(`copy snapshotter and chroot isolation build the same image as overlay (${target ?? 'final'} stage)`, async (t) => {
    if (!prerequisite(t, canRun, 'needs root (overlay mounts, namespaces)')) return;
    const label = target ?? 'final';
    const overlay = await buildWith(`overlay-${label}`, ['--snapshotter', 'overlay', '--isolation', 'namespaces'], target);
    const copy = await buildWith(`copy-${label}`, ['--snapshotter', 'copy', '--isolation', 'namespaces'], target);
    const chroot = await buildWith(`chroot-${label}`, ['--isolation', 'chroot'], target);
    assert.match(overlay.id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(copy.id, overlay.id, 'the copy snapshotter made other layers than overlay');
    assert.equal(chroot.id, overlay.id, 'chroot isolation made other layers than overlay');
    if (target !== 'base') return;
    // The recipe really exercises whiteouts, opaque dirs and hard links (seen in the overlay build).
    const layers = await layerEntries(overlay.store, 'copysnap');
    const all = layers.flat();
    for (const name of ['d/.wh.sub', '.wh.keep', 'e/.wh..wh..opq', 'f/y/.wh..wh..opq', 'home/.wh..wh..opq', '.wh.d', 'dd/link', 'fifo', 'keep2', 'bin/busybox']) {
      assert.ok(all.includes(name), `the overlay build's layers lack ${name}: ${JSON.stringify(layers.slice(1))}`);
    }
    // Mount points and the cache mount's files are never part of a layer.
    for (const name of ['scratch/', 'ctx/', 'root/.cache/', 'proc/', 'etc/hosts', 'root/']) {
      assert.ok(!layers.slice(1).flat().includes(name), `a RUN layer holds the mount point ${name}`);
    }
    // The last RUN changed nothing: BuildKit still gives it a layer, an empty one (the
    // differential suite compares that history with docker build's).
    assert.equal(layers.length, 7);
    assert.deepEqual(layers[6], []);
  });
}
