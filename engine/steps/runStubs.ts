/**
 * What a RUN step's prepared root (copy snapshotter) must hold before the command starts, and
 * which mounts the runtime still makes. With namespaces, the mounts are real: the root gets only
 * their mount points (made before the step's changes are watched, so they are not the step's).
 * With chroot isolation nothing can be mounted: a mount's content goes into the root for the run
 * instead — binds and secrets copied, a cache's entries moved in and back, tmpfs an empty dir —
 * with /dev's few nodes and the generated /etc files, and all of it is taken out afterwards.
 * An overlay root needs none of this: the runtime's own mount points come from a lower dir under
 * the stage's layers (overlaySnapshotter.ts), a step's mounts' it makes in the upper dir and
 * removes.
 */
import { statSync } from 'node:fs';
import type { Isolation } from '../runtime/isolation.js';
import type { PreparedMount } from './runProcess.js';
import type { RootStub, SnapshotterKind } from './snapshotter.js';

/** The mount points the runtime makes in every container root (runtime/mounts.ts). */
export const RUNTIME_DIRS = ['/proc', '/dev', '/sys'];
export const RUNTIME_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

/** docker's /dev nodes (runtime/mounts.ts): what a chroot's /dev gets when mknod is allowed. */
const DEVICES: [string, number, number][] = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7], ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];

function isDir(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

/** A RUN step's /etc files where nothing is mounted: the host's view of names (as the host network is the step's). */
function etcStubs(): RootStub[] {
  const hostFile = (path: string): RootStub => ({ path, kind: 'file', fill: { from: path, how: 'copy' } });
  const stubs: RootStub[] = [];
  for (const p of RUNTIME_FILES) {
    if (p === '/etc/hostname') stubs.push({ path: p, kind: 'file', fill: { text: 'buildkitsandbox\n' } });
    else if (statSync(p, { throwIfNoEntry: false })?.isFile()) stubs.push(hostFile(p));
  }
  return stubs;
}

export function runStubs(isolation: Isolation, snapshotter: SnapshotterKind, mounts: readonly PreparedMount[]): { stubs: RootStub[]; mounts: PreparedMount[] } {
  if (snapshotter === 'overlay') return { stubs: [], mounts: [...mounts] };
  if (isolation !== 'chroot') {
    const stubs: RootStub[] = [
      ...RUNTIME_DIRS.map((path): RootStub => ({ path, kind: 'dir' })),
      ...RUNTIME_FILES.map((path): RootStub => ({ path, kind: 'file' })),
      ...mounts.map((m): RootStub => ({ path: m.target, kind: m.type === 'tmpfs' || isDir(m.source) ? 'dir' : 'file' })),
    ];
    return { stubs, mounts: [...mounts] };
  }
  const stubs: RootStub[] = [
    { path: '/dev', kind: 'dir' },
    ...DEVICES.map(([path, major, minor]): RootStub => ({ path, kind: 'char-device', mode: 0o666, device: { major, minor } })),
    { path: '/dev/shm', kind: 'dir', mode: 0o1777 },
    ...etcStubs(),
  ];
  for (const m of mounts) {
    if (m.type === 'tmpfs') {
      stubs.push({ path: m.target, kind: 'dir', mode: 0o1777 });
      continue;
    }
    const dir = isDir(m.source);
    const st = statSync(m.source);
    // A cache mount is read-write and outlives the step: its entries move in and back. Other
    // binds (context, stages, secrets, scripts) are copies the step may change without effect.
    const cache = m.cache === true && !m.readonly;
    stubs.push({
      path: m.target, kind: dir ? 'dir' : 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid,
      fill: { from: m.source, how: cache && dir ? 'move' : 'copy' },
    });
  }
  return { stubs, mounts: [] };
}
