/**
 * A minimal image root for runtime tests, made from the host's static busybox: /bin/busybox,
 * one symlink per applet, /etc/passwd and /etc/group with root, nobody and a user "app" (1000),
 * /tmp 1777. Used as an overlay lower dir, so every test run starts from the same tree.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

export function busyboxAvailable(): boolean {
  if (!existsSync(BUSYBOX)) return false;
  try {
    return !execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' }).includes('dynamically linked');
  } catch {
    return true;
  }
}

export function makeBusyboxRootfs(parent = tmpdir()): string {
  const root = mkdtempSync(join(parent, 'kiln-busybox-'));
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home/app', 'usr/bin', 'var']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n');
  return root;
}
