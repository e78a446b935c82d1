/**
 * What the container lifecycle tests share: a kiln store with the busybox image (and, where
 * docker runs, the same root filesystem imported into docker under a name of this process's),
 * kiln and docker runners, reading a container's record, and waiting for a state — polling,
 * never a wall-clock limit (the test runner's timeout is the only bound).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commitBusyboxImage, makeBusyboxRootfs, type ExtraFiles } from '../../harness/busyboxImage.js';
import { dockerAvailable, kilnBin } from './env.js';
import { runCommand, runKiln, type Result } from './kilnProcess.js';
import { Store } from '../../engine/store/store.js';
import type { ContainerRecord } from '../../engine/runtime/containerRecords.js';

export const DOCKER = '/usr/bin/docker';

export interface LifecycleBox {
  root: string;
  store: string;
  image: string;
  docker: boolean;
  kiln(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<Result>;
  /** A kiln command left running (logs -f, attach, a foreground run). */
  kilnProcess(args: string[]): ChildProcessWithoutNullStreams;
  dockerCli(args: string[]): Promise<Result>;
  /** The record of a container, by name (undefined once removed). */
  record(name: string): ContainerRecord | undefined;
  /** Containers this box made (kiln's and docker's), removed at dispose. */
  kilnNames: Set<string>;
  dockerNames: Set<string>;
  dispose(): Promise<void>;
}

export async function openLifecycleBox(name: string, opts: { docker?: boolean; extra?: ExtraFiles } = {}): Promise<LifecycleBox> {
  const root = mkdtempSync(join(tmpdir(), `kiln-life-${name}-`));
  const store = join(root, 'store');
  const image = `kiln-life-${name}-${process.pid}/busybox:latest`;
  await commitBusyboxImage(await Store.open({ root: store }), image, 0, opts.extra ?? {});
  const docker = (opts.docker ?? true) && dockerAvailable();
  if (docker) {
    const rootfs = await makeBusyboxRootfs(opts.extra ?? {});
    try {
      const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const imp = spawn(DOCKER, ['import', '-', image], { stdio: ['pipe', 'ignore', 'inherit'] });
      tar.stdout.pipe(imp.stdin);
      if ((await new Promise((res) => imp.on('close', res))) !== 0) throw new Error('docker import of the test image failed');
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  }
  const dockerNames = new Set<string>();
  const kilnNames = new Set<string>();
  const box: LifecycleBox = {
    root, store, image, docker, dockerNames, kilnNames,
    kiln: (args, o = {}) => runKiln(store, args, o),
    kilnProcess: (args) => spawn(process.execPath, [kilnBin, ...args], { env: { ...process.env, KILN_ROOT: store } }),
    dockerCli: (args) => runCommand(DOCKER, args),
    record(n) {
      const dir = join(store, 'containers');
      if (!existsSync(dir)) return undefined;
      for (const id of readdirSync(dir)) {
        try {
          const rec = JSON.parse(readFileSync(join(dir, id, 'container.json'), 'utf8')) as ContainerRecord;
          if (rec.name === n || rec.id === n) return rec;
        } catch {
          // being written or removed
        }
      }
      return undefined;
    },
    async dispose() {
      for (const c of kilnNames) await box.kiln(['rm', '-f', c]);
      for (const c of dockerNames) await runCommand(DOCKER, ['rm', '-f', c]);
      if (docker) await runCommand(DOCKER, ['rmi', image]);
      rmSync(root, { recursive: true, force: true });
    },
  };
  return box;
}

/** Polls `check` until it returns something other than undefined or false. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 20): Promise<T> {
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await sleep(everyMs);
  }
}

/** Collects a child's output and resolves `seen` once it contains `text`. */
export function outputOf(child: ChildProcessWithoutNullStreams): { text: () => string; seen: (text: string) => Promise<void>; exit: Promise<number | null> } {
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (c: Buffer): void => {
    out += c.toString();
    for (const w of [...waiters]) if (out.includes(w.text)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    text: () => out,
    seen: (text) => (out.includes(text) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text, resolve }))),
    exit,
  };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
