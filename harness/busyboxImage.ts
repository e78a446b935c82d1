/**
 * A small real image for tests with no network: a root filesystem made from Debian's static
 * busybox (/bin/busybox, a symlink per applet, /etc/passwd, /etc/group, /tmp 1777), written as
 * one layer with kiln's tar writer and committed to a store.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLayer } from '../engine/layer/tarWriter.js';
import { emptyConfig } from '../engine/image/config.js';
import type { ImageRecord, Store } from '../engine/store/store.js';

export const BUSYBOX = '/bin/busybox';
export const haveBusybox = existsSync(BUSYBOX);

/** Host files to add to the root filesystem: path inside → host file (copied with its mode). */
export type ExtraFiles = Record<string, string>;

/** Builds the busybox root filesystem in a new temp dir and returns its path. */
export async function makeBusyboxRootfs(extra: ExtraFiles = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-busybox-'));
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(root, 'bin', a));
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  for (const [inside, host] of Object.entries(extra)) {
    await copyFile(host, join(root, inside));
    await chmod(join(root, inside), 0o755);
  }
  return root;
}

/** Commits the busybox image (created at the epoch given, default 0) and tags it. */
export async function commitBusyboxImage(store: Store, tag = 'kiln-test/busybox:latest', created = 0, extra: ExtraFiles = {}): Promise<ImageRecord> {
  const rootfs = await makeBusyboxRootfs(extra);
  try {
    const when = new Date(created * 1000);
    await utimes(rootfs, when, when);
    const layer = await writeLayer(store, rootfs, { whiteouts: 'none', sourceDateEpoch: created });
    const cfg = emptyConfig();
    cfg.created = when.toISOString().replace('.000Z', 'Z');
    cfg.config = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };
    cfg.rootfs.diff_ids = [layer.diffId];
    cfg.history = [{ created: cfg.created, created_by: 'ADD rootfs / # kiln test', comment: 'kiln.test' }, { created: cfg.created, created_by: 'CMD ["sh"]', empty_layer: true }];
    const rec = await store.commitImage(cfg);
    await store.tag(rec.id, tag);
    return (await store.getImage(rec.id)) ?? rec;
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
}
