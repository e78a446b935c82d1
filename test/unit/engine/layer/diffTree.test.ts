/**
 * A layer built in memory (DiffTree, as COPY fills it) gives the same tar, byte for byte, as the
 * same files created in a directory: the image IDs of COPY layers do not depend on whether the
 * files were ever written to disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { DiffTree } from '../../../../engine/layer/diffTree.js';
import { layerTar } from '../../../../engine/layer/tarWriter.js';
import { CopyWriter, type EntryAttrs } from '../../../../engine/steps/copyTree.js';
import { isRoot, prerequisite } from '../../../support/env.js';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A source tree with what COPY meets: nesting, empty files and dirs, links of both kinds, special modes, PAX names, a streamed file. */
function makeSource(root: string): void {
  mkdirSync(join(root, 'sub', 'deep'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'file'), 'hello\n');
  writeFileSync(join(root, 'emptyfile'), '');
  writeFileSync(join(root, 'sub', 'deep', 'x'), 'deep\n');
  linkSync(join(root, 'file'), join(root, 'sub', 'hardlink'));
  symlinkSync('../file', join(root, 'sub', 'link'));
  writeFileSync(join(root, 'suid'), '#!/bin/sh\n');
  chmodSync(join(root, 'suid'), 0o4755);
  chmodSync(join(root, 'sub'), 0o2775);
  writeFileSync(join(root, 'ünïcode'), 'u\n');
  writeFileSync(join(root, 'n'.repeat(150)), 'long\n');
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(700 * 1024, 7));
  let t = 1_600_000_000;
  const stamp = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (lstatSync(p).isDirectory()) stamp(p);
      lutimesSync(p, t, t);
      t += 1000;
    }
  };
  stamp(root);
  lutimesSync(root, 1_600_100_000, 1_600_100_000);
}

/** What runCopy does for `COPY src /dst/`, without a destination image. */
async function copyInto(tree: DiffTree, src: string, owner: EntryAttrs['owner']): Promise<void> {
  const writer = new CopyWriter(tree, undefined, { uid: 0, gid: 0 }, new Date(1_650_000_000_000));
  const attrs: EntryAttrs = { owner, chmod: undefined };
  await writer.ensureParents('/dst/x');
  await writer.ensureDir('/dst', { stats: lstatSync(src), attrs });
  const walk = async (host: string, image: string): Promise<void> => {
    for (const name of readdirSync(host).sort()) {
      const p = join(host, name);
      const st = lstatSync(p);
      const target = posix.join(image, name);
      if (st.isDirectory()) {
        await writer.ensureDir(target, { stats: st, attrs });
        await walk(p, target);
      } else await writer.copyEntry(p, st, target, attrs);
    }
  };
  await walk(src, '/dst');
  await writer.writeFile('/dst/heredoc', Buffer.from('from a heredoc\n'), 0o644, { uid: 0, gid: 0 }, new Date(1_640_000_000_000));
}

test('a COPY layer built in memory has the bytes of the same files written to a directory', async (t) => {
  if (!prerequisite(t, isRoot, 'giving files the owners a COPY gives needs root')) return;
  const base = mkdtempSync(join(tmpdir(), 'kiln-difftree-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const src = join(base, 'src');
  mkdirSync(src);
  makeSource(src);
  for (const [owner, sde] of [[{ uid: 0, gid: 0 }, undefined], [undefined, 1_600_000_500]] as const) {
    const tree = new DiffTree();
    await copyInto(tree, src, owner);
    // The same layer on disk: /dst made like a new directory, the source copied in with cp -a.
    const disk = mkdtempSync(join(base, 'disk-'));
    execFileSync('cp', ['-a', src, join(disk, 'dst')]);
    writeFileSync(join(disk, 'dst', 'heredoc'), 'from a heredoc\n');
    chmodSync(join(disk, 'dst', 'heredoc'), 0o644);
    lutimesSync(join(disk, 'dst', 'heredoc'), 1_640_000_000, 1_640_000_000);
    if (owner) execFileSync('chown', ['-hR', `${owner.uid}:${owner.gid}`, join(disk, 'dst')]);
    for (const p of ['sub', 'suid']) chmodSync(join(disk, 'dst', p), lstatSync(join(src, p)).mode & 0o7777);
    lutimesSync(join(disk, 'dst'), lstatSync(src).mtime, lstatSync(src).mtime);
    const opts = { whiteouts: 'none' as const, ...(sde !== undefined ? { sourceDateEpoch: sde } : {}) };
    const fromTree = await collect(layerTar(tree.root, opts));
    const fromDisk = await collect(layerTar(disk, opts));
    assert.ok(fromTree.equals(fromDisk), `tars differ (owner ${JSON.stringify(owner)}, SOURCE_DATE_EPOCH ${sde})`);
    assert.equal(tree.newestMtime(), 1_640_000_000, 'the heredoc is the newest entry');
  }
});

test('hard links: a path replaced later leaves its partner a plain file; a removed directory drops its links', async () => {
  const tree = new DiffTree();
  const writer = new CopyWriter(tree, undefined, { uid: 0, gid: 0 }, new Date(0));
  const base = mkdtempSync(join(tmpdir(), 'kiln-difftree-links-'));
  try {
    writeFileSync(join(base, 'a'), 'a');
    linkSync(join(base, 'a'), join(base, 'b'));
    writeFileSync(join(base, 'c'), 'c');
    const attrs: EntryAttrs = { owner: { uid: 0, gid: 0 }, chmod: undefined };
    await writer.ensureParents('/d/x');
    await writer.copyEntry(join(base, 'a'), lstatSync(join(base, 'a')), '/d/a', attrs);
    await writer.copyEntry(join(base, 'b'), lstatSync(join(base, 'b')), '/d/b', attrs);
    assert.ok(tree.get('/d/a') === tree.get('/d/b'), 'the pair is one node');
    assert.notEqual(tree.get('/d/a')?.linkKey, undefined);
    await writer.copyEntry(join(base, 'c'), lstatSync(join(base, 'c')), '/d/b', attrs);
    assert.equal(tree.get('/d/a')?.linkKey, undefined, 'a has a single name again');
    tree.remove('/d');
    assert.ok(tree.isEmpty());
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('a source removed after the copy listed it fails the layer with FILE_CHANGED, not a crash', async () => {
  const base = mkdtempSync(join(tmpdir(), 'kiln-difftree-gone-'));
  try {
    writeFileSync(join(base, 'soon-gone'), 'x');
    const tree = new DiffTree();
    const writer = new CopyWriter(tree, undefined, { uid: 0, gid: 0 }, new Date(0));
    await writer.ensureParents('/d/x');
    await writer.copyEntry(join(base, 'soon-gone'), lstatSync(join(base, 'soon-gone')), '/d/f', { owner: { uid: 0, gid: 0 }, chmod: undefined });
    rmSync(join(base, 'soon-gone'));
    await assert.rejects(collect(layerTar(tree.root, { whiteouts: 'none' })), (e: Error & { code?: string }) => e.code === 'FILE_CHANGED' && /was removed/.test(e.message));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
