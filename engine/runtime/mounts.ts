/**
 * Which file systems a container gets, as docker/runc give them (moby daemon/pkg/oci/defaults.go,
 * runc specconv): /proc, a tmpfs /dev with a handful of nodes, devpts, /dev/shm, mqueue,
 * read-only /sys, the user's binds and tmpfs mounts, and the generated hosts/hostname/resolv.conf.
 * Also the overlay options for the root and the clean-up of mount points the start created.
 */
import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import type { Stats } from 'node:fs';
import { nativeBinding, type NativeDevice, type NativeMount } from '../../native/index.js';
import { KilnError } from '../errors/kilnError.js';
import type { HostDevice } from './hostDevices.js';

export type ContainerMount =
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  | { type: 'tmpfs'; target: string; size?: number };

export interface MountPlan {
  mounts: NativeMount[];
  devices: NativeDevice[];
  symlinks: { target: string; path: string }[];
  maskedPaths: string[];
  readonlyPaths: string[];
}

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEVICES: [string, number, number][] = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7],
  ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];

export interface MountPlanOptions {
  userNamespace: boolean;
  /** A network namespace of its own: sysfs can be mounted fresh. */
  ownNetwork: boolean;
  /** Host files bound onto /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  etcFiles: { hosts: string; hostname: string; resolvConf: string };
  user: ContainerMount[];
  /** For binds: whether each source is a directory (decides dir or file mount point). */
  sourceIsDir: (source: string) => boolean;
  /**
   * Whether TTY_GID is mapped in the container's user namespace (devpts refuses an unmapped
   * gid=). Default: only outside a user namespace.
   */
  ttyGroupMapped?: boolean;
  /** `--device` nodes, made (or, in a user namespace, bound from the host) in the container's /dev. */
  devices?: readonly HostDevice[];
  /**
   * The container's own cgroup directories, shown read-only under /sys/fs/cgroup as docker
   * shows them (name '' : the directory is /sys/fs/cgroup itself, v2).
   */
  cgroupViews?: readonly { name: string; dir: string }[];
  /** `--init`: the host's init executable, bound read-only at `target`. */
  init?: { source: string; target: string };
}

/** The group of terminals (Debian's and docker's "tty"): devpts gives each new pts to it. */
export const TTY_GID = 5;

export function cleanTarget(target: string): string {
  if (!target.startsWith('/')) throw new KilnError('BAD_MOUNT', `invalid mount target "${target}": must be an absolute path`);
  const norm = posix.normalize(target);
  return norm.length > 1 ? norm.replace(/\/$/, '') : norm;
}

export function planMounts(o: MountPlanOptions): MountPlan {
  const mounts: NativeMount[] = [
    { source: 'proc', target: '/proc', fstype: 'proc', flags: ['nosuid', 'noexec', 'nodev'], create: 'dir' },
    { source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: ['nosuid', 'strictatime'], data: 'mode=755,size=65536k', create: 'dir' },
    {
      source: 'devpts', target: '/dev/pts', fstype: 'devpts', flags: ['nosuid', 'noexec'], create: 'dir',
      data: `newinstance,ptmxmode=0666,mode=0620${(o.ttyGroupMapped ?? !o.userNamespace) ? `,gid=${TTY_GID}` : ''}`,
    },
    { source: 'shm', target: '/dev/shm', fstype: 'tmpfs', flags: ['nosuid', 'noexec', 'nodev'], data: 'mode=1777,size=65536k', create: 'dir' },
    { source: 'mqueue', target: '/dev/mqueue', fstype: 'mqueue', flags: ['nosuid', 'noexec', 'nodev'], create: 'dir' },
    {
      source: 'sysfs', target: '/sys', fstype: 'sysfs', flags: ['nosuid', 'noexec', 'nodev', 'ro'], create: 'dir',
      // Without a network namespace of its own, a user namespace may not mount sysfs: bind the host's.
      fallback: { source: '/sys', target: '/sys', bind: true, recursive: true, readonly: true, flags: ['nosuid', 'noexec', 'nodev'], create: 'dir' },
    },
  ];
  if (!o.ownNetwork && o.userNamespace) {
    const sys = mounts[mounts.length - 1] as NativeMount;
    mounts[mounts.length - 1] = sys.fallback as NativeMount;
  }
  const cgroupMounts = cgroupViewMounts(o.cgroupViews ?? []);
  mounts.push(...cgroupMounts);
  for (const [target, source] of [['/etc/hosts', o.etcFiles.hosts], ['/etc/hostname', o.etcFiles.hostname], ['/etc/resolv.conf', o.etcFiles.resolvConf]] as const) {
    mounts.push({ source, target, bind: true, create: 'file' });
  }
  if (o.init) mounts.push({ source: o.init.source, target: o.init.target, bind: true, readonly: true, create: 'file' });
  for (const m of o.user) {
    const target = cleanTarget(m.target);
    if (m.type === 'bind') {
      mounts.push({ source: m.source, target, bind: true, recursive: true, readonly: m.readonly, create: o.sourceIsDir(m.source) ? 'dir' : 'file' });
    } else {
      mounts.push({
        source: 'tmpfs', target, fstype: 'tmpfs', flags: ['nosuid', 'nodev', 'noexec'], create: 'dir',
        data: m.size === undefined ? 'mode=1777' : `mode=1777,size=${m.size}`,
      });
    }
  }
  const devices: NativeDevice[] = DEVICES.map(([path, major, minor]) => ({
    path, major, minor, mode: 0o666, bindFromHost: o.userNamespace, hostPath: path,
  }));
  for (const d of o.devices ?? []) {
    devices.push({ path: d.containerPath, type: d.type, major: d.major, minor: d.minor, mode: d.mode, uid: d.uid, gid: d.gid, bindFromHost: o.userNamespace, hostPath: d.hostPath });
  }
  const symlinks = [
    { target: 'pts/ptmx', path: '/dev/ptmx' },
    { target: '/proc/self/fd', path: '/dev/fd' },
    { target: '/proc/self/fd/0', path: '/dev/stdin' },
    { target: '/proc/self/fd/1', path: '/dev/stdout' },
    { target: '/proc/self/fd/2', path: '/dev/stderr' },
  ];
  return { mounts, devices, symlinks, maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS };
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** v1: a tmpfs with one read-only bind per hierarchy; v2: the one directory bound read-only. */
function cgroupViewMounts(views: readonly { name: string; dir: string }[]): NativeMount[] {
  const flags = ['nosuid', 'nodev', 'noexec'];
  const bind = (source: string, target: string): NativeMount => ({ source, target, bind: true, readonly: true, flags, create: 'dir' });
  if (views.length === 0) return [];
  if (views.length === 1 && views[0]?.name === '') return [bind(views[0].dir, CGROUP_ROOT)];
  return [
    { source: 'tmpfs', target: CGROUP_ROOT, fstype: 'tmpfs', flags, data: 'mode=755', create: 'dir' },
    ...views.map((v) => bind(v.dir, `${CGROUP_ROOT}/${v.name}`)),
    // read-only once the mount points are made in it
    { source: '', target: CGROUP_ROOT, remount: true, flags: [...flags, 'ro'], data: 'mode=755' },
  ];
}

/** The overlay mount data must fit in one page. */
export const MOUNT_DATA_LIMIT = 4000;

export interface OverlayOptions {
  data: string;
  /** Directory the relative lower paths in `data` resolve against. */
  cwd?: string;
  /** Short names to create in `cwd` as symlinks to the lower dirs (name -> lower dir). */
  links?: [string, string][];
}

/**
 * Overlay options for a root with the given lower dirs (topmost first). Absolute paths when they
 * fit in a page; otherwise paths relative to a shared parent; otherwise short symlinks in
 * `linkDir` (overlayfs resolves each lowerdir path, following symlinks, at mount time).
 */
export function overlayOptions(lowerDirs: readonly string[], upperDir: string, workDir: string, userNamespace: boolean, linkDir: string): OverlayOptions {
  if (lowerDirs.length === 0) throw new KilnError('BAD_ROOTFS', 'a container root needs at least one lower directory');
  for (const d of lowerDirs) {
    if (/[,:]/.test(d)) throw new KilnError('BAD_ROOTFS', `overlay lower directory "${d}" contains "," or ":"`);
  }
  const tail = `,upperdir=${upperDir},workdir=${workDir}` +
    (userNamespace ? ',userxattr' : ',index=off,metacopy=off,redirect_dir=off');
  const absolute = `lowerdir=${lowerDirs.join(':')}${tail}`;
  if (absolute.length <= MOUNT_DATA_LIMIT) return { data: absolute };

  const parent = commonParent(lowerDirs);
  if (parent !== '/') {
    const rel = `lowerdir=${lowerDirs.map((d) => relative(parent, d)).join(':')}${tail}`;
    if (rel.length <= MOUNT_DATA_LIMIT) return { data: rel, cwd: parent };
  }
  const links = lowerDirs.map((d, i) => [i.toString(36), d] as [string, string]);
  const short = `lowerdir=${links.map(([n]) => n).join(':')}${tail}`;
  if (short.length > MOUNT_DATA_LIMIT) {
    throw new KilnError('BAD_ROOTFS', `image has too many layers (${lowerDirs.length}) for one overlay mount`);
  }
  return { data: short, cwd: linkDir, links };
}

function commonParent(dirs: readonly string[]): string {
  const split = dirs.map((d) => d.split('/').filter((p) => p !== ''));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length && split.every((s) => s[n] === first[n] && s.length > n + 1)) n++;
  return '/' + first.slice(0, n).join('/');
}

function lowerStat(dirs: readonly string[], rel: string): Stats | undefined {
  for (const d of dirs) {
    try {
      // A mount point is usually in no layer at all: each miss answered without an exception.
      const st = lstatSync(join(d, rel), { throwIfNoEntry: false });
      if (st) return st;
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

function isOpaque(path: string): boolean {
  const native = nativeBinding();
  return ['trusted.overlay.opaque', 'user.overlay.opaque'].some((name) => native.getXattr(path, name)?.toString() === 'y');
}

/**
 * Removes from the upper dir the mount points the start created (an empty file or directory
 * that no lower layer has), and their parents created with them, so a RUN step's layer holds
 * only what the command wrote. BuildKit does the same (executor/stubs.go).
 */
export function removeMountStubs(upperDir: string, lowerDirs: readonly string[], targets: readonly string[]): void {
  for (const target of targets) {
    let rel = target.replace(/^\/+/, '');
    while (rel !== '' && rel !== '.') {
      const path = join(upperDir, rel);
      let st;
      try {
        // Most targets left no stub (the runtime's mount points come from a lower dir): a miss
        // is answered without an exception, which cost more than the lookup itself.
        st = lstatSync(path, { throwIfNoEntry: false });
      } catch {
        break;
      }
      if (!st) break;
      const below = lowerStat(lowerDirs, rel);
      if (below) {
        // A directory copied up only because a mount point was created in it: drop the copy
        // when nothing else changed (empty, same owner and mode, not opaque).
        if (!st.isDirectory() || !below.isDirectory() || st.mode !== below.mode || st.uid !== below.uid || st.gid !== below.gid) break;
        if (readdirSync(path).length > 0 || isOpaque(path)) break;
        rmdirSync(path);
        rel = posix.dirname(rel);
        continue;
      }
      if (st.isDirectory()) {
        if (readdirSync(path).length > 0) break;
        rmdirSync(path);
      } else if (st.isFile() && st.size === 0) {
        unlinkSync(path);
      } else {
        break;
      }
      rel = posix.dirname(rel);
    }
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
