/** kiln images, tag, rmi, history, inspect, save and load as a user runs them (bin/kiln). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../../../engine/store/store.js';
import { emptyConfig } from '../../../../engine/image/config.js';
import { writeLayer } from '../../../../engine/layer/tarWriter.js';
import { kilnBin } from '../../../support/env.js';

function kiln(root: string, args: string[], input?: Buffer): { status: number; stdout: string; stderr: string; raw: Buffer } {
  const r = spawnSync(process.execPath, [kilnBin, ...args], { env: { ...process.env, KILN_ROOT: root }, input, maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
}

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ root: string; id: string; diffId: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-verbs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = await Store.open({ root });
  const tree = join(root, 'tree');
  await mkdir(join(tree, 'app'), { recursive: true });
  await writeFile(join(tree, 'app', 'main.sh'), 'echo hi\n'.repeat(200));
  const layer = await writeLayer(store, tree, { whiteouts: 'none', sourceDateEpoch: 0 });
  const cfg = emptyConfig();
  cfg.created = new Date(Date.now() - 3 * 3600_000).toISOString();
  cfg.config = { Cmd: ['/app/main.sh'], Labels: { 'org.example': '<yes>' } };
  cfg.rootfs.diff_ids = [layer.diffId];
  cfg.history = [
    { created: cfg.created, created_by: 'COPY app /app # a long instruction text that docker would cut short' },
    { created: cfg.created, created_by: 'CMD ["/app/main.sh"]', empty_layer: true },
  ];
  const image = await store.commitImage(cfg);
  await store.tag(image.id, 'example/app:1.0');
  return { root, id: image.id, diffId: layer.diffId };
}

test('images lists tags docker-style; -q prints unique short IDs; tag adds a row', async (t) => {
  const { root, id } = await setup(t);
  assert.equal(kiln(root, ['tag', 'example/app:1.0', 'other']).status, 0);
  const out = kiln(root, ['images']);
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.match(out.stdout, new RegExp(`example/app\\s+1\\.0\\s+${id.slice(7, 19)}\\s+3 hours ago\\s+\\d+(\\.\\d+)?kB`));
  assert.match(out.stdout, /other\s+latest\s+/);
  assert.equal(kiln(root, ['images', '-q']).stdout, `${id.slice(7, 19)}\n`);
  assert.equal(kiln(root, ['images', 'other']).stdout.trimEnd().split('\n').length, 2);
  assert.equal(kiln(root, ['images', '--filter', 'reference=example/*', '--format', '{{.Repository}}:{{.Tag}}']).stdout, 'example/app:1.0\n');
  assert.equal(kiln(root, ['images', '-f', 'dangling=true', '-q']).stdout, '');
  assert.equal(kiln(root, ['images', '-f', 'bogus=1']).status, 2);
  assert.match(kiln(root, ['tag', 'nothere', 'x']).stderr, /No such image: nothere/);
  assert.match(kiln(root, ['tag', 'other', 'Bad:Name']).stderr, /invalid reference format/);
});

test('history shows newest first with sizes; inspect prints a docker-shaped array', async (t) => {
  const { root, id, diffId } = await setup(t);
  const h = kiln(root, ['history', 'example/app:1.0']);
  assert.equal(h.status, 0, h.stderr);
  const rows = h.stdout.trimEnd().split('\n');
  assert.match(rows[1] ?? '', new RegExp(`^${id.slice(7, 19)}\\s+3 hours ago\\s+CMD \\["/app/main.sh"\\]\\s+0B`));
  assert.match(rows[2] ?? '', /^<missing>\s+3 hours ago\s+COPY app \/app # a long instruction text that…\s+\d/);
  const inspected = JSON.parse(kiln(root, ['inspect', 'example/app:1.0']).stdout) as Record<string, unknown>[];
  assert.equal(inspected.length, 1);
  const i = inspected[0] as { Id: string; RepoTags: string[]; Config: { Cmd: string[]; Labels: Record<string, string>; Env: null }; RootFS: { Type: string; Layers: string[] }; Os: string; Size: number };
  assert.equal(i.Id, id);
  assert.deepEqual(i.RepoTags, ['example/app:1.0']);
  assert.deepEqual(i.Config.Cmd, ['/app/main.sh']);
  assert.equal(i.Config.Env, null);
  assert.deepEqual(i.RootFS, { Type: 'layers', Layers: [diffId] });
  assert.equal(i.Os, 'linux');
  assert.ok(i.Size > 1600);
  assert.ok(kiln(root, ['inspect', id.slice(7, 15)]).stdout.includes('\\u003cyes\\u003e'), 'Go-style escaping of <>');
  assert.equal(kiln(root, ['inspect', '-f', '{{.Id}} {{index .Config.Labels "org.example"}}', 'example/app:1.0']).stdout, `${id} <yes>\n`);
  const missing = kiln(root, ['inspect', 'example/app:1.0', 'ghost']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /No such object: ghost/);
});

test('rmi untags, refuses an ID with several tags unless forced, then deletes', async (t) => {
  const { root, id } = await setup(t);
  kiln(root, ['tag', 'example/app:1.0', 'example/app:2.0']);
  const refused = kiln(root, ['rmi', id.slice(7, 19)]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /must be forced\) - image is referenced in multiple repositories/);
  assert.equal(kiln(root, ['rmi', 'example/app:2.0']).stdout, 'Untagged: example/app:2.0\n');
  assert.equal(kiln(root, ['rmi', 'example/app:1.0']).stdout, `Untagged: example/app:1.0\nDeleted: ${id}\n`);
  assert.equal(kiln(root, ['images', '-q']).stdout, '');
  const gone = kiln(root, ['rmi', 'example/app:1.0']);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /No such image: example\/app:1\.0/);
});

test('save to stdout and to a file give the same bytes, and load reads them back', async (t) => {
  const { root, id } = await setup(t);
  const piped = kiln(root, ['save', 'example/app']);
  assert.equal(piped.status, 0, piped.stderr);
  const file = join(root, 'out.tar');
  assert.equal(kiln(root, ['save', '-o', file, 'example/app:1.0']).status, 0);
  assert.ok((await readFile(file)).equals(piped.raw));
  const other = await mkdtemp(join(tmpdir(), 'kiln-verbs-load-'));
  t.after(() => rm(other, { recursive: true, force: true }));
  const loaded = kiln(other, ['load'], piped.raw);
  assert.equal(loaded.status, 0, loaded.stderr);
  assert.equal(loaded.stdout, 'Loaded image: example/app:1.0\n');
  assert.equal(kiln(other, ['inspect', '-f', '{{.Id}}', 'example/app:1.0']).stdout.trim(), id);
  const bad = kiln(other, ['load', '-i', join(root, 'missing.tar')]);
  assert.equal(bad.status, 66, 'a missing path has exit code 66');
  assert.match(bad.stderr, /missing\.tar: no such file or directory/);
  assert.match(kiln(other, ['save', '-o', join(root, 'x.tar'), 'ghost']).stderr, /No such image: ghost/);
});

test('rmi keeps an image a container uses: refused while it runs, untagged only when forced', async (t) => {
  const { root, id } = await setup(t);
  const container = 'c'.repeat(64);
  await mkdir(join(root, 'containers', container), { recursive: true });
  const record = { id: container, name: 'calm_curie', image: 'example/app:1.0', imageId: id, command: ['sh'], created: new Date().toISOString(), state: 'running', ownerPid: process.pid };
  await writeFile(join(root, 'containers', container, 'container.json'), JSON.stringify(record));
  const running = kiln(root, ['rmi', '-f', 'example/app:1.0']);
  assert.equal(running.status, 1);
  assert.match(running.stderr, /cannot be forced\) - image is being used by running container cccccccccccc/);
  await writeFile(join(root, 'containers', container, 'container.json'), JSON.stringify({ ...record, state: 'exited', ownerPid: undefined }));
  assert.match(kiln(root, ['rmi', 'example/app:1.0']).stderr, /must force\) - container cccccccccccc is using its referenced image/);
  assert.equal(kiln(root, ['rmi', '-f', 'example/app:1.0']).stdout, 'Untagged: example/app:1.0\n');
  assert.match(kiln(root, ['images']).stdout, new RegExp(`<none>\\s+<none>\\s+${id.slice(7, 19)}`), 'the image stays, dangling, for its container');
});
