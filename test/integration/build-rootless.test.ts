/**
 * Rootless `kiln build`: the unprivileged user kilnrootless (from .ci/setup, with /etc/subuid
 * and /etc/subgid ranges) builds a recipe with RUN steps that create, chown and delete files and
 * a COPY from the context. kiln runs the build in its own user namespace, so the layers record
 * in-container owners and the image is the same, byte for byte, as a root build's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { extract } from 'tar-stream';
import { Store } from '../../engine/store/store.js';
import { writeLayer } from '../../engine/layer/tarWriter.js';
import { commitBusyboxImage } from '../../harness/busyboxImage.js';
import { makeContext, runKiln, succeeds } from '../support/kilnProcess.js';
import { prerequisite } from '../support/env.js';
import { NO_SUBIDS_USER, noSubidsUserExists, ROOTLESS_USER, rootlessReady, rootlessSession, rootlessWhy, type RootlessSession } from '../support/rootlessUser.js';

const SDE = '1700000000';
const DOCKERFILE = [
  'FROM kiln-test/busybox',
  'RUN mkdir -p /home/app && echo made > /home/app/made.txt && chown -R 1000:1000 /home/app',
  'RUN rm /bin/vi && echo root-made > /root-file',
  'COPY greeting.txt /greeting.txt',
  'CMD ["sh", "-c", "cat /home/app/made.txt /greeting.txt /root-file; stat -c %u:%g /home/app/made.txt /greeting.txt; test -e /bin/vi || echo no-vi"]',
  '',
].join('\n');

interface TarEntry { name: string; uid: number; gid: number; type: string }

async function tarEntries(data: Buffer): Promise<Map<string, { header: TarEntry; body: Buffer }>> {
  const out = new Map<string, { header: TarEntry; body: Buffer }>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.set(h.name, { header: { name: h.name, uid: h.uid ?? -1, gid: h.gid ?? -1, type: h.type ?? 'file' }, body: Buffer.concat(chunks) });
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([data]).pipe(ex);
  await done;
  return out;
}

/** Every layer's entries of a docker-save archive, bottom layer first. */
async function savedLayers(archive: string): Promise<TarEntry[][]> {
  const outer = await tarEntries(readFileSync(archive));
  const manifest = JSON.parse((outer.get('manifest.json')?.body ?? Buffer.from('[]')).toString('utf8')) as { Layers: string[] }[];
  const layers: TarEntry[][] = [];
  for (const path of manifest[0]?.Layers ?? []) {
    const blob = outer.get(path);
    assert.ok(blob, `${path} is in the archive`);
    layers.push([...(await tarEntries(blob.body)).values()].map((e) => e.header));
  }
  return layers;
}

/** Pids whose environment names this test's store: what the build left running. */
function processesOf(storeRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`KILN_ROOT=${storeRoot}`)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

describe('build: rootless kiln build', () => {
  let session: RootlessSession;
  let rootStore: string;
  let context: string;
  let rootlessId = '';
  let ownedLayer = '';
  before(async () => {
    if (!rootlessReady) return;
    session = rootlessSession('kiln-rootless-build-');
    // The base image as it would come from a registry (root-owned files): made by root, loaded
    // by the user, so both builds start from the same layer.
    rootStore = join(session.root, 'root-store');
    const store = await Store.open({ root: rootStore });
    const busybox = await commitBusyboxImage(store, 'kiln-test/busybox:latest');
    // And one with a device node in a layer, which a user namespace cannot create.
    const devDir = mkdtempSync(join(session.root, 'device-layer-'));
    mkdirSync(join(devDir, 'lib', 'dev'), { recursive: true });
    execFileSync('mknod', [join(devDir, 'lib', 'dev', 'char-null'), 'c', '1', '3']);
    const deviceLayer = await writeLayer(store, devDir, { whiteouts: 'none', sourceDateEpoch: 0 });
    const withDevice = structuredClone(busybox.config);
    withDevice.rootfs.diff_ids.push(deviceLayer.diffId);
    withDevice.history = [...(withDevice.history ?? []), { created: withDevice.created ?? '1970-01-01T00:00:00Z', created_by: 'a device node' }];
    await store.tag((await store.commitImage(withDevice)).id, 'kiln-test/busybox-device:latest');
    // And one with a file owned by 1000:1000.
    const ownedDir = mkdtempSync(join(session.root, 'owned-layer-'));
    mkdirSync(join(ownedDir, 'srv'));
    writeFileSync(join(ownedDir, 'srv', 'owned'), 'mine\n');
    execFileSync('chown', ['-R', '1000:1000', join(ownedDir, 'srv')]);
    ownedLayer = (await writeLayer(store, ownedDir, { whiteouts: 'none', sourceDateEpoch: 0 })).diffId;
    const withOwned = structuredClone(busybox.config);
    withOwned.rootfs.diff_ids.push(ownedLayer);
    withOwned.history = [...(withOwned.history ?? []), { created: withOwned.created ?? '1970-01-01T00:00:00Z', created_by: 'an owned file' }];
    await store.tag((await store.commitImage(withOwned)).id, 'kiln-test/busybox-owned:latest');
    const base = join(session.root, 'busybox.tar');
    await succeeds(runKiln(rootStore, ['save', '-o', base, 'kiln-test/busybox', 'kiln-test/busybox-device', 'kiln-test/busybox-owned']));
    execFileSync('chmod', ['a+r', base]);
    session.asUser([session.kilnBin, 'load', '-i', base], { check: true });
    context = makeContext(session.root, 'ctx', DOCKERFILE, { 'greeting.txt': 'hello from the context\n' }, 1_600_000_000);
    execFileSync('chown', ['-R', `${ROOTLESS_USER}:${ROOTLESS_USER}`, context]);
  });
  after(() => {
    if (rootlessReady) rmSync(session.root, { recursive: true, force: true });
  });

  test('the unprivileged user builds with RUN, chown, a whiteout and COPY; the image runs', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const build = session.asUser([session.kilnBin, 'build', '-q', '-t', 'rl/app', context], { env: { SOURCE_DATE_EPOCH: SDE } });
    assert.equal(build.status, 0, build.stderr);
    rootlessId = build.stdout.trim();
    assert.match(rootlessId, /^sha256:[0-9a-f]{64}$/);
    const run = session.asUser([session.kilnBin, 'run', '--rm', 'rl/app']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'made\nhello from the context\nroot-made\n1000:1000\n0:0\nno-vi\n');
  });

  test('nothing is left mounted or running after the build', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(session.root));
    assert.deepEqual(mounts, []);
    assert.deepEqual(processesOf(session.env.KILN_ROOT as string), []);
    assert.deepEqual(readdirSync(join(session.env.KILN_ROOT as string, 'tmp')), []);
  });

  test('saved layers record in-container owners, and the image ID equals a root build\'s', async (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    assert.ok(rootlessId, 'the rootless build ran');
    const archive = join(session.root, 'app.tar');
    const save = session.asUser([session.kilnBin, 'save', '-o', archive, 'rl/app']);
    assert.equal(save.status, 0, save.stderr);
    const layers = await savedLayers(archive);
    assert.equal(layers.length, 4);
    const owners = (layer: TarEntry[] | undefined): Record<string, string> =>
      Object.fromEntries((layer ?? []).map((e) => [e.name, `${e.uid}:${e.gid}`]));
    assert.deepEqual(owners(layers[1]), { 'home/': '0:0', 'home/app/': '1000:1000', 'home/app/made.txt': '1000:1000' });
    assert.deepEqual(owners(layers[2]), { 'bin/': '0:0', 'bin/.wh.vi': '0:0', 'root-file': '0:0' });
    assert.deepEqual(owners(layers[3]), { 'greeting.txt': '0:0' });
    assert.ok((layers[0] ?? []).every((e) => e.uid === 0 && e.gid === 0), 'base layer files are 0:0');

    // The same recipe built by root from the same base, with the same SOURCE_DATE_EPOCH.
    const rootBuild = await succeeds(runKiln(rootStore, ['build', '-q', context], { env: { SOURCE_DATE_EPOCH: SDE } }));
    assert.equal(rootBuild.stdout.trim(), rootlessId);
  });

  test('RUN steps see the full map: 0 is the user, 1.. the /etc/subuid range', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const r = session.asUser([session.kilnBin, 'build', '--progress', 'plain', '--no-cache', '-t', 'rl/maps', '-'], {
      input: 'FROM kiln-test/busybox\nRUN cat /proc/self/uid_map /proc/self/gid_map\n',
    });
    assert.equal(r.status, 0, r.stderr);
    const uid = execFileSync('id', ['-u', ROOTLESS_USER], { encoding: 'utf8' }).trim();
    const range = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${ROOTLESS_USER}:`))?.split(':');
    const maps = r.stderr.split('\n').filter((l) => /^#\d+ [\d.]+\s+\d+\s+\d+\s+\d+$/.test(l)).map((l) => l.split(/\s+/).slice(2).join(' '));
    assert.deepEqual(maps.slice(0, 2), [`0 ${uid} 1`, `1 ${range?.[1]} ${range?.[2]}`]);
  });

  test('--output type=local writes files the user owns (and may remove)', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const dest = join(session.root, 'local-out');
    const r = session.asUser([session.kilnBin, 'build', '-q', '-o', `type=local,dest=${dest}`, context], { env: { SOURCE_DATE_EPOCH: SDE } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dest, 'home', 'app', 'made.txt'), 'utf8'), 'made\n');
    const uid = execFileSync('id', ['-u', ROOTLESS_USER], { encoding: 'utf8' }).trim();
    assert.equal(execFileSync('find', [dest, '-not', '-uid', uid], { encoding: 'utf8' }), '');
    assert.equal(session.asUser(['rm', '-rf', dest]).status, 0);
  });

  test('a device node in a base layer is skipped in the snapshot (mknod is refused) and kept in the image', async (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const r = session.asUser([session.kilnBin, 'build', '--progress', 'plain', '-t', 'rl/device', '-'], {
      input: 'FROM kiln-test/busybox-device\nRUN ls /lib/dev; test ! -e /lib/dev/char-null && echo device-skipped\n',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /device-skipped/);
    const archive = join(session.root, 'device.tar');
    assert.equal(session.asUser([session.kilnBin, 'save', '-o', archive, 'rl/device']).status, 0);
    const layers = await savedLayers(archive);
    assert.deepEqual(layers[1]?.map((e) => [e.name, e.type]), [['lib/', 'directory'], ['lib/dev/', 'directory'], ['lib/dev/char-null', 'character-device']]);
  });

  test('a snapshot an unprivileged kiln flattened is extracted again with owners in the namespace', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const store = session.env.KILN_ROOT as string;
    const uid = Number(execFileSync('id', ['-u', ROOTLESS_USER], { encoding: 'utf8' }).trim());
    // As the user, outside any namespace (as kiln run does without a subordinate range).
    const extract = [
      `import { Store } from ${JSON.stringify(join(session.kilnHome, 'dist/engine/store/store.js'))};`,
      `import { extractTar } from ${JSON.stringify(join(session.kilnHome, 'dist/engine/layer/extract.js'))};`,
      `await (await Store.open({ unpackLayer: extractTar })).snapshotDir(${JSON.stringify(ownedLayer)});`,
    ].join('\n');
    session.asUser([process.execPath, '--input-type=module', '-e', extract], { check: true });
    const snapshot = join(store, 'snapshots', ownedLayer.slice('sha256:'.length));
    assert.equal(statSync(join(snapshot, 'srv', 'owned')).uid, uid, 'flattened: the user owns everything');
    assert.ok(existsSync(`${snapshot}.owners-flattened`));
    const r = session.asUser([session.kilnBin, 'run', '--rm', 'kiln-test/busybox-owned', 'stat', '-c', '%u:%g', '/srv/owned']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '1000:1000\n');
    assert.ok(!existsSync(`${snapshot}.owners-flattened`));
    assert.notEqual(statSync(join(snapshot, 'srv', 'owned')).uid, uid);
  });

  test('snapshots owned by subordinate ids are removed by the user\'s rmi and prune', (t) => {
    if (!prerequisite(t, rootlessReady, rootlessWhy)) return;
    const store = session.env.KILN_ROOT as string;
    const subordinate = execFileSync('find', [store, '-not', '-uid', execFileSync('id', ['-u', ROOTLESS_USER], { encoding: 'utf8' }).trim()], { encoding: 'utf8' });
    assert.notEqual(subordinate.trim(), '', 'the chowned files belong to a subordinate id outside');
    for (const argv of [['rmi', 'rl/app', 'rl/maps', 'rl/device', 'kiln-test/busybox', 'kiln-test/busybox-device', 'kiln-test/busybox-owned'], ['prune', '-a', '-f']]) {
      const r = session.asUser([session.kilnBin, ...argv]);
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(readdirSync(join(store, 'snapshots')), []);
    assert.equal(execFileSync('find', [store, '-not', '-uid', execFileSync('id', ['-u', ROOTLESS_USER], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }), '');
  });


  /** A PATH with node and setpriv only (no proot). */
  function pathWithoutProot(): string {
    const dir = join(session.root, 'bin-without-proot');
    if (!existsSync(dir)) {
      mkdirSync(dir);
      symlinkSync(process.execPath, join(dir, 'node'));
      symlinkSync('/usr/bin/setpriv', join(dir, 'setpriv'));
    }
    return dir;
  }

  test('a user without a subordinate range (and no proot) is refused with a message naming /etc/subuid', (t) => {
    if (!prerequisite(t, rootlessReady && noSubidsUserExists, `${rootlessWhy}, and the ${NO_SUBIDS_USER} user (no /etc/subuid range) from .ci/setup`)) return;
    const r = session.asUser([session.kilnBin, 'build', '-'], { user: NO_SUBIDS_USER, input: 'FROM scratch\n', env: { KILN_ROOT: '/nonexistent/kiln', TMPDIR: '/tmp', PATH: pathWithoutProot() } });
    assert.equal(r.status, 71, r.stderr);
    assert.match(r.stderr, new RegExp(`no range for ${NO_SUBIDS_USER} in /etc/subuid`));
    assert.match(r.stderr, /needs root, or a user namespace of its own, to give the layers' files their owners/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
