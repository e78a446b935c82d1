/**
 * A cgroup for every container and RUN step, limits or not, under one `kiln` parent in each
 * hierarchy, named after its owning kiln process (cgroupOwner.ts) and removed when the
 * container ends; what a killed kiln left is swept by the next kiln that starts a container.
 *
 * Which hierarchies a container joins: on v1, `devices` always (its allow-list, deviceRules.ts)
 * and each controller a limit needs; on a hybrid host also the unified v2 hierarchy, where the
 * same allow-list is attached as an eBPF program (deviceProgram.ts); on v2 the one directory,
 * with the eBPF program. The start creates the directories, the child is cloned straight into
 * the v2 one (CLONE_INTO_CGROUP), and `admit` writes the rules and limits and moves the child
 * into the v1 hierarchies while it is still mounting its root: a v1 move waits for an RCU grace
 * period (several ms), which then overlaps the child's own work. The child waits at its gate
 * before running anything of the container's.
 *
 * Rootless (no delegation) there is no cgroup: said once, not an error — unless limits were
 * asked for.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { nativeBinding } from '../../native/index.js';
import { KilnError } from '../errors/kilnError.js';
import { controllerHome, hostCgroupLayout, type CgroupLayout } from './cgroupLayout.js';
import { controllerDir, hasLimits, limitControllers, limitWrites, missingController, v2ControllersNeeded, type CgroupWrite, type ResourceLimits } from './cgroupLimits.js';
import { ownedCgroupName } from './cgroupOwner.js';
import { removeCgroupTree, sweepDeadOwners } from './cgroupRemoval.js';
import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram } from './deviceProgram.js';
import { v1RuleLine, type DeviceRule } from './deviceRules.js';
import { noticeOnce } from './onceNotice.js';
import { privilege } from '../host/privilege.js';

export type { ResourceLimits } from './cgroupLimits.js';
export { hostCgroupLayout, type CgroupLayout } from './cgroupLayout.js';

export interface CgroupRequest {
  limits?: ResourceLimits;
  /** The device allow-list (default: deny). */
  devices: readonly DeviceRule[];
  /**
   * Also join what `kiln stats` reads and `kiln pause` freezes (memory, cpu, cpuacct, pids,
   * blkio, freezer), limits or not: `kiln run`'s containers. RUN steps join only what they need.
   */
  managed?: boolean;
}

/** What a managed container joins beside its limits' controllers, where the host has them. */
const MANAGED_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'freezer'];
/** cgroup v2 controllers a managed container's parents enable, where offered. */
const MANAGED_V2_CONTROLLERS = ['cpu', 'memory', 'pids', 'io'];

/** The controllers (v1 names) a container joins: `devices` for its allow-list, what its limits need, and (managed) what stats and pause use. */
export function joinedControllers(limits?: ResourceLimits, managed = false): string[] {
  return [...new Set(['devices', ...limitControllers(limits), ...(managed ? MANAGED_CONTROLLERS : [])])];
}

/** The joined controllers that have a v1 hierarchy of their own on this layout. */
function v1Joined(layout: CgroupLayout, limits: ResourceLimits | undefined, managed: boolean): string[] {
  if (layout.version === 'v2') return [];
  return joinedControllers(limits, managed).filter((c) => controllerHome(layout, c)?.version === 'v1');
}

/**
 * The container's directories: on v1 one per joined hierarchy (co-mounted controllers share
 * one; a controller this host lacks is left out), then the unified one of a hybrid host; on v2
 * the one directory.
 */
export function cgroupDirs(layout: CgroupLayout, name: string, limits?: ResourceLimits, managed = false): string[] {
  if (layout.version === 'v2') return [controllerDir(layout, '', name)];
  const dirs = v1Joined(layout, limits, managed).map((c) => controllerDir(layout, c, name));
  if (layout.unified !== undefined) dirs.push(join(layout.unified, 'kiln', name));
  return [...new Set(dirs)];
}

/** Every `kiln` parent of this host (where the sweep looks). */
export function kilnParents(layout: CgroupLayout): string[] {
  if (layout.version === 'v2') return [join(layout.mountPoint, 'kiln')];
  const mounts = [...new Set(layout.controllers.values())];
  if (layout.unified !== undefined) mounts.push(layout.unified);
  return mounts.map((m) => join(m, 'kiln'));
}

/** The v2 directory of a container's cgroup (hybrid: the unified one), where eBPF and CLONE_INTO_CGROUP apply. */
function v2Dir(layout: CgroupLayout, name: string): string | undefined {
  if (layout.version === 'v2') return controllerDir(layout, '', name);
  return layout.unified === undefined ? undefined : join(layout.unified, 'kiln', name);
}

let sweep: Promise<void> | undefined;
const devicePrograms = new Map<string, number>();
const enabledV2Parents = new Set<string>();

function writeCgroupFile(w: CgroupWrite): void {
  let path = join(w.dir, w.file);
  if (!existsSync(path)) {
    if (w.optional) return;
    if (w.fallbackFile !== undefined && existsSync(join(w.dir, w.fallbackFile))) path = join(w.dir, w.fallbackFile);
    else if (w.fallbackFile !== undefined) {
      throw new KilnError('CGROUP', `cannot set ${w.file}: this host's I/O controller has no weight file (${w.file} or ${w.fallbackFile}; it needs the BFQ I/O scheduler on the devices)`, { exitCode: 125 });
    }
  }
  try {
    writeFileSync(path, w.value);
  } catch (err) {
    throw new KilnError('CGROUP', `cannot set ${w.file} to ${w.value}: ${(err as Error).message}`, { cause: err, exitCode: 125 });
  }
}

/**
 * Writes each line to `file` with a write of its own, through one descriptor: the kernel takes
 * one rule per write (devices.allow), and a container's dozen device rules were a dozen opens,
 * closes and existence checks on the way to its start.
 */
function writeCgroupLines(dir: string, file: string, lines: readonly string[]): void {
  if (lines.length === 0) return;
  let fd: number;
  try {
    fd = openSync(join(dir, file), 'w');
  } catch (err) {
    throw new KilnError('CGROUP', `cannot set ${file}: ${(err as Error).message}`, { cause: err, exitCode: 125 });
  }
  try {
    for (const line of lines) {
      try {
        writeSync(fd, line);
      } catch (err) {
        throw new KilnError('CGROUP', `cannot set ${file} to ${line}: ${(err as Error).message}`, { cause: err, exitCode: 125 });
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** v2: the controllers a container uses must be enabled in each parent's subtree_control. */
function enableV2Controllers(mountPoint: string, controllers: readonly string[]): void {
  const parent = join(mountPoint, 'kiln');
  const key = `${parent}:${controllers.join(',')}`;
  if (controllers.length === 0 || enabledV2Parents.has(key)) return;
  for (const dir of [mountPoint, parent]) {
    const available = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/);
    const wanted = controllers.filter((c) => available.includes(c)).map((c) => `+${c}`);
    try {
      if (wanted.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), wanted.join(' '));
    } catch {
      // a limit whose controller stays off fails with its own message when written
    }
  }
  enabledV2Parents.add(key);
}

/**
 * A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no task until it has both:
 * the `kiln` parent gets the root's, a container its parent's (its flags are written after).
 */
function inheritCpuset(dir: string): void {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    for (const d of [dirname(dir), dir]) {
      if (readFileSync(join(d, file), 'utf8').trim() !== '') continue;
      writeFileSync(join(d, file), readFileSync(join(dirname(d), file), 'utf8').trim());
    }
  }
}

/** The device program for a rule set, loaded once per process and attached to many cgroups. */
function loadedDeviceProgram(rules: readonly DeviceRule[]): number {
  const key = rules.map(v1RuleLine).join(',');
  let fd = devicePrograms.get(key);
  if (fd === undefined) {
    try {
      fd = nativeBinding().loadBpfProgram(BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram(rules), 'Apache-2.0');
    } catch (err) {
      throw new KilnError('CGROUP', `cannot load the device filter for the container's cgroup: ${(err as Error).message}`, { cause: err });
    }
    devicePrograms.set(key, fd);
  }
  return fd;
}

const ROOTLESS_LIMITS = 'resource limits (--memory, --cpus, --cpuset-cpus, --pids-limit, …) need a cgroup, and a rootless kiln has none: this host delegates no cgroup to the user (run kiln as root, or drop the limits)';
const NO_CGROUPS = 'resource limits need cgroups, and none are mounted on this host';

/**
 * Refuses, before anything is created, limits this host cannot apply: no cgroups, no cgroup for
 * a rootless kiln (no delegation), a controller the host lacks (named).
 */
export function checkLimitsOnHost(limits: ResourceLimits | undefined): void {
  if (!hasLimits(limits)) return;
  if (privilege() !== 'host-root') throw new KilnError('CGROUP', ROOTLESS_LIMITS, { exitCode: 125 });
  const layout = hostCgroupLayout();
  if (!layout) throw new KilnError('CGROUP', NO_CGROUPS, { exitCode: 125 });
  for (const c of limitControllers(limits)) if (!controllerHome(layout, c)) throw missingController(layout, c);
}

function cgroupsUnavailable(request: CgroupRequest, why: string, note: string): undefined {
  if (hasLimits(request.limits)) throw new KilnError('CGROUP', why, { exitCode: 125 });
  noticeOnce('no-cgroup', note);
  return undefined;
}

/** The cgroup v2 controllers to enable for a container: its limits', and on v2 what stats read. */
function v2Controllers(layout: CgroupLayout, request: CgroupRequest): string[] {
  const needed = v2ControllersNeeded(layout, request.limits);
  if (layout.version === 'v2' && request.managed) needed.push(...MANAGED_V2_CONTROLLERS.filter((c) => layout.offered?.has(c) ?? true));
  return [...new Set(needed)];
}

export class ContainerCgroup {
  private dirFd = -1;

  private constructor(
    readonly layout: CgroupLayout,
    readonly name: string,
    /** v1 directories the child must be moved into (the v2 one too when clone could not place it). */
    private readonly v1: Map<string, string>,
    private readonly v2: string | undefined,
    private readonly request: CgroupRequest,
  ) {}

  /**
   * Creates the directories (limits and rules are written by `admit`). Undefined where kiln may
   * not make cgroups — said once; an error when limits were asked for.
   */
  static create(id: string, request: CgroupRequest): ContainerCgroup | undefined {
    const layout = hostCgroupLayout();
    // Without delegation only root of the initial user namespace may write the host's cgroups.
    if (privilege() !== 'host-root') {
      return cgroupsUnavailable(request, ROOTLESS_LIMITS,
        'containers get no cgroup of their own when kiln is not root (no delegated cgroup): no device rules or accounting by cgroup; the user namespace still keeps device nodes shut');
    }
    if (!layout) return cgroupsUnavailable(request, NO_CGROUPS, 'this host mounts no cgroups: containers run without device rules');
    sweep ??= sweepDeadOwners(kilnParents(layout)).catch(() => undefined);
    const name = ownedCgroupName(id);
    // A limit's controller the host lacks is an error naming it; devices and what stats use are skipped.
    for (const c of limitControllers(request.limits)) if (!controllerHome(layout, c)) throw missingController(layout, c);
    const v1 = new Map<string, string>();
    if (layout.version === 'v1') {
      for (const c of v1Joined(layout, request.limits, request.managed ?? false)) v1.set(c, controllerDir(layout, c, name));
      if (!layout.controllers.has('devices') && layout.unified === undefined) noticeOnce('no-devices', 'this host has no device cgroup: device nodes containers make are not restricted');
    }
    const cg = new ContainerCgroup(layout, name, v1, v2Dir(layout, name), request);
    try {
      const v2Root = layout.version === 'v2' ? layout.mountPoint : layout.unified;
      if (v2Root !== undefined) enableV2Controllers(v2Root, v2Controllers(layout, request));
      for (const dir of cg.dirs()) mkdirSync(dir, { recursive: true });
      const cpuset = v1.get('cpuset');
      if (cpuset !== undefined) inheritCpuset(cpuset);
      if (cg.v2 !== undefined) cg.dirFd = openSync(cg.v2, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (err) {
      cg.closeDir();
      for (const dir of cg.dirs()) void removeCgroupTree(dir, 0).catch(() => undefined);
      if (err instanceof KilnError) throw err;
      return cgroupsUnavailable(request, `cannot make the container's cgroup: ${(err as Error).message}`,
        `containers get no cgroup of their own: ${(err as Error).message}`);
    }
    return cg;
  }

  /** Every directory of this cgroup. */
  dirs(): string[] {
    return [...new Set([...this.v1.values(), ...(this.v2 !== undefined ? [this.v2] : [])])];
  }

  /** A descriptor of the v2 directory to clone the child into; -1 when there is none. */
  get cloneFd(): number {
    return this.dirFd;
  }

  /**
   * Writes the device rules and limits and moves the (gated) child in: into every v1
   * hierarchy, and into the v2 one unless it was cloned there.
   */
  admit(pid: number, inV2: boolean): void {
    const devices = this.v1.get('devices');
    if (devices !== undefined) {
      writeCgroupFile({ dir: devices, file: 'devices.deny', value: 'a' });
      writeCgroupLines(devices, 'devices.allow', this.request.devices.map(v1RuleLine));
    }
    for (const w of limitWrites(this.layout, this.name, this.request.limits ?? {})) writeCgroupFile(w);
    if (this.dirFd >= 0) {
      try {
        nativeBinding().attachBpfProgram(this.dirFd, loadedDeviceProgram(this.request.devices), BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
      } catch (err) {
        if (err instanceof KilnError) throw err;
        throw new KilnError('CGROUP', `cannot attach the device filter to ${this.v2}: ${(err as Error).message}`, { cause: err });
      }
    }
    const joins = [...new Set(this.v1.values())];
    if (this.v2 !== undefined && !inV2) joins.push(this.v2);
    // Synchronous and back to back: the first move waits for an RCU grace period and the next
    // ones ride on it, where thread-pool writes would each wait for a free thread (and, with
    // time between them, for a grace period of their own).
    for (const dir of joins) {
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      } catch (err) {
        // ESRCH: the child already gave up (its error report says why).
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new KilnError('CGROUP', `cannot move the container into ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /**
   * What the container sees under /sys/fs/cgroup (read-only): on v1 its directory in each joined
   * hierarchy, named as the host names the hierarchy; on v2 its one directory.
   */
  views(): { name: string; dir: string }[] {
    if (this.layout.version === 'v2') return [{ name: '', dir: this.v2 as string }];
    // dir is MOUNT/kiln/NAME: the view is named after the hierarchy's mount point.
    return [...new Set(this.v1.values())].map((dir) => ({ name: basename(join(dir, '..', '..')), dir }));
  }

  /** True when the memory controller recorded an OOM kill in this cgroup. */
  async oomKilled(): Promise<boolean> {
    const dir = this.layout.version === 'v2' ? this.v2 : this.v1.get('memory');
    if (dir === undefined) return false;
    try {
      const text = await readFile(join(dir, this.layout.version === 'v2' ? 'memory.events' : 'memory.oom_control'), 'utf8');
      const m = /oom_kill (\d+)/.exec(text);
      return m !== null && Number(m[1]) > 0;
    } catch {
      return false;
    }
  }

  /** Kills whatever is left and removes the directories; waits for the sweep this start began. */
  destroy(): Promise<void> {
    // Once: the container's outcome removes it, and the start's release makes sure.
    this.destroyed ??= (async () => {
      this.closeDir();
      for (const dir of this.dirs()) {
        if (!(await removeCgroupTree(dir))) throw new KilnError('CGROUP', `cannot remove cgroup ${dir}: still busy`);
      }
      await sweep;
    })();
    return this.destroyed;
  }

  private destroyed: Promise<void> | undefined;

  private closeDir(): void {
    if (this.dirFd < 0) return;
    closeSync(this.dirFd);
    this.dirFd = -1;
  }
}
