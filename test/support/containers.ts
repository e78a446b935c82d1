/**
 * Helpers for runtime tests: a busybox root to use as the overlay lower dir, a runner that
 * captures output, and the checks that a container left nothing behind on the host.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runContainer, type ContainerIO, type ContainerResult, type ContainerSpec } from '../../engine/runtime/container.js';
import { hostCgroupLayout, kilnParents } from '../../engine/runtime/cgroups.js';
import { ownerOf } from '../../engine/runtime/cgroupOwner.js';

export interface Captured extends ContainerResult {
  stdout: string;
  stderr: string;
  upperDir: string;
}

export interface Sandbox {
  lower: string;
  /** Runs a container on a fresh upper dir over `lower` (or the lowers given). */
  run(argv: string[], overrides?: Partial<ContainerSpec>, io?: ContainerIO): Promise<Captured>;
  dispose(): Promise<void>;
}

/** Cgroups of this test process's containers are named with this prefix. */
export const TEST_ID_PREFIX = `rttest-${process.pid}-`;

export async function sandbox(lower: string): Promise<Sandbox> {
  const base = await mkdtemp(join(tmpdir(), 'kiln-rt-test-'));
  let n = 0;
  return {
    lower,
    async run(argv, overrides = {}, io = {}) {
      const dir = join(base, String(n++));
      await mkdir(join(dir, 'upper'), { recursive: true });
      await mkdir(join(dir, 'work'));
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const spec: ContainerSpec = {
        id: `${TEST_ID_PREFIX}${n}`,
        rootfs: { lowerDirs: [lower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') },
        argv,
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        hostname: 'kiln-test',
        network: 'none',
        mounts: [],
        stdio: 'pipe',
        ...overrides,
      };
      const result = await runContainer(spec, { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c), ...io });
      return { ...result, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), upperDir: join(dir, 'upper') };
    },
    async dispose() {
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** Mount points on the host that a container start would have made (there must be none). */
export function leftoverMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => /kiln-ctr-|kiln-rt-test-|\/containers\/[0-9a-f]{64}/.test(l));
}

/**
 * Container cgroups (of any kiln process) whose container id starts with `prefix` still present
 * under the kiln parent of any hierarchy; by default this test process's.
 */
export function leftoverCgroups(prefix = TEST_ID_PREFIX): string[] {
  const layout = hostCgroupLayout();
  if (!layout) return [];
  const out: string[] = [];
  for (const p of kilnParents(layout)) {
    if (!existsSync(p)) continue;
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory() && ownerOf(e.name)?.id.startsWith(prefix)) out.push(join(p, e.name));
    }
  }
  return out;
}

/** Container cgroups, in every hierarchy, whose owning kiln process's pid `owned` accepts. */
export function cgroupsOwnedBy(owned: (pid: number) => boolean): string[] {
  const layout = hostCgroupLayout();
  if (!layout) return [];
  return kilnParents(layout).flatMap((p) => (existsSync(p) ? readdirSync(p) : []).filter((name) => {
    const owner = ownerOf(name)?.owner;
    return owner !== undefined && owned(owner.pid);
  }).map((name) => join(p, name))).sort();
}

/** The mount points in the mount table of process `pid` (this process's: the host's). */
export function mountPoints(pid: number | 'self' = 'self'): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m !== '');
}

/** Mount points of this (the host's) mount namespace at or under `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return mountPoints().filter((m) => m === dir || m.startsWith(`${dir}/`));
}
