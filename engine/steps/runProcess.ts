/**
 * A RUN's command in its build container (the step is run.ts): the root the snapshotter
 * prepares (an overlay of the stage's layers with a fresh upper dir, or a copy), whose changes
 * become the new layer. Shell form goes through SHELL, exec form as is, heredocs the way
 * BuildKit runs them. The environment is the stage ENV plus declared ARGs; USER is resolved in
 * the image's /etc/passwd; WORKDIR is the cwd. Mounts (cache, bind, tmpfs, secret) are never
 * part of the layer. A failing command stops the build with its exit code and the last lines of
 * its output.
 */
import { chmod, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Heredoc } from '../../grammar/ast.js';
import type { RunInstruction } from '../../grammar/recipe.js';
import { resolveUser } from '../runtime/users.js';
import { commandArgv, DEFAULT_SHELL } from './meta.js';
import type { RunRoot, RunRootfs, StageRoot } from './snapshotter.js';

export type { StageRoot } from './snapshotter.js';
import type { StageState } from './state.js';

export interface ProcessUser { uid: number; gid: number; additionalGids: number[] }

/** The container the runtime starts (the runtime's ContainerSpec, as much of it as RUN uses). */
export interface RunContainerSpec {
  rootfs: RunRootfs;
  argv: string[];
  env: string[];
  cwd: string;
  user: ProcessUser;
  hostname: string;
  network: 'none' | 'host' | 'bridge';
  mounts: ({ type: 'bind'; source: string; target: string; readonly: boolean } | { type: 'tmpfs'; target: string; size?: number })[];
  stdio: 'pipe';
  /** A RUN step's device allow-list is BuildKit's: docker run's without the host console. */
  deviceDefaults: 'build';
  /** Called right before the command starts (the copy snapshotter notes the root's state then). */
  beforeStart?: () => void;
  /** RUN --security=insecure (granted): every capability, device and system call. */
  privileged?: boolean;
}

export interface RunContainerIo {
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
  signal?: AbortSignal;
}

export type ContainerRunner = (spec: RunContainerSpec, io?: RunContainerIo) => Promise<{ exitCode: number }>;

export class RunFailedError extends Error {
  constructor(message: string, readonly exitCode: number, readonly tail: string[]) { super(message); }
}

/** A mount the step asked for, resolved to host paths by the caller. */
export type PreparedMount =
  | { type: 'bind'; source: string; target: string; readonly: boolean; /** A cache mount: what the step writes there outlives it. */ cache?: boolean }
  | { type: 'tmpfs'; target: string; size?: number };

export interface RunPlan {
  instr: RunInstruction;
  state: StageState;
  /**
   * Prepares the step's root (the snapshotter's) for these mounts; returns it and the mounts the
   * runtime is to make (none where the root already holds their content: chroot isolation).
   * The caller captures or discards the root afterwards.
   */
  prepareRoot: (mounts: PreparedMount[]) => Promise<{ root: RunRoot; mounts: PreparedMount[] }>;
  /** A dir for heredoc scripts the command executes; made when asked for. */
  scriptDir: () => Promise<string>;
  mounts: PreparedMount[];
  network: 'none' | 'host' | 'bridge';
  runner: ContainerRunner;
  /** Environment only this step sees (secrets with env=): not in the image, not in history. */
  extraEnv: string[];
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  signal: AbortSignal;
  /** RUN --security=insecure, granted by the build. */
  insecure?: boolean;
}

const HEREDOC_ONLY = /^\s*<<-?\s*(["']?)([^\s"']+)\1\s*$/;

/**
 * The argv BuildKit runs for a RUN: a lone heredoc is the script itself (written to a file the
 * shell runs when it starts with `#!`); other heredocs are handed to the shell with the line.
 */
export function runArgv(state: StageState, instr: RunInstruction, scriptPath: (h: Heredoc) => string): { argv: string[]; scripts: { heredoc: Heredoc; path: string }[] } {
  const shell = state.config.config?.Shell ?? DEFAULT_SHELL;
  if (instr.command.form === 'shell' && instr.heredocs.length > 0) {
    const text = instr.command.text;
    const only = instr.heredocs.length === 1 ? HEREDOC_ONLY.exec(text.split('\n')[0] ?? '') : null;
    if (only && instr.heredocs[0]) {
      const h = instr.heredocs[0];
      // A script with a shebang is written to a file the shell runs (history: `/bin/sh -c /dev/pipes/EOF`).
      if (h.content.startsWith('#!')) return { argv: [...shell, scriptPath(h)], scripts: [{ heredoc: h, path: scriptPath(h) }] };
      return { argv: [...shell, h.content], scripts: [] };
    }
    let full = text.split('\n')[0] ?? text;
    for (const h of instr.heredocs) full += '\n' + h.content + h.name;
    return { argv: [...shell, full], scripts: [] };
  }
  return { argv: commandArgv(state, instr.command), scripts: [] };
}

/** The text of a RUN's history line (without `RUN ` and the args prefix). */
export function runHistoryText(argv: string[]): string {
  return argv.join(' ');
}

export async function runCommand(plan: RunPlan): Promise<{ argv: string[]; root: RunRoot }> {
  const { state, instr } = plan;
  const config = state.config.config ?? {};
  const { argv, scripts } = runArgv(state, instr, (h) => `/dev/pipes/${h.name}`);
  const wanted = [...plan.mounts];
  for (const s of scripts) {
    const host = join(await plan.scriptDir(), s.heredoc.name);
    await writeFile(host, s.heredoc.content, { mode: 0o755 });
    await chmod(host, 0o755);
    wanted.push({ type: 'bind', source: host, target: s.path, readonly: true });
  }
  const { root, mounts } = await plan.prepareRoot(wanted);
  try {
    // The same reading of USER as `kiln run` and docker (supplementary groups included).
    const files = root.files;
    const { uid, gid, additionalGids, home } = resolveUser(config.User ?? '', await files.readText('/etc/passwd'), await files.readText('/etc/group'));
    const user: ProcessUser = { uid, gid, additionalGids };
    const tail: string[] = [];
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') tail.push(line);
      if (tail.length > 20) tail.splice(0, tail.length - 20);
    };
    const { exitCode } = await plan.runner({
      rootfs: root.rootfs,
      argv,
      env: withHome([...state.args.runEnv(config.Env), ...plan.extraEnv], home),
      cwd: config.WorkingDir || '/',
      user,
      hostname: 'buildkitsandbox',
      network: plan.network,
      mounts,
      stdio: 'pipe',
      deviceDefaults: 'build',
      beforeStart: () => root.watch({ uid, gid }),
      ...(plan.insecure ? { privileged: true } : {}),
    }, {
      onStdout: (c) => { keep(c); plan.onOutput('stdout', c); },
      onStderr: (c) => { keep(c); plan.onOutput('stderr', c); },
      signal: plan.signal,
    });
    if (exitCode !== 0) {
      const shown = instr.command.form === 'exec' ? JSON.stringify(argv) : argv.map((a) => a).join(' ');
      throw new RunFailedError(`process "${shown}" did not complete successfully: exit code: ${exitCode}`, exitCode, tail.slice(-10));
    }
    if (root.rootfs.kind === 'overlay') await removeMountStubs(root.rootfs.upperDir, files, mounts.map((m) => m.target));
  } catch (e) {
    await root.discard();
    throw e;
  }
  return { argv, root };
}

/** HOME from the user's passwd entry ("/" when unknown) unless the environment sets it, as runc does. */
function withHome(env: string[], home: string): string[] {
  return env.some((kv) => kv.startsWith('HOME=')) ? env : [...env, `HOME=${home}`];
}

/**
 * Mount points the runtime had to create in the upper dir are not the command's output:
 * they go, unless the image already had them.
 */
async function removeMountStubs(upper: string, view: StageRoot, targets: string[]): Promise<void> {
  for (const target of targets) {
    let p = posix.normalize(target);
    while (p !== '/' && p !== '.') {
      if (await view.statIn(p)) break;
      const host = join(upper, p);
      try {
        const entries = await readdir(host).catch(() => undefined);
        if (entries === undefined) await rm(host, { force: true });
        else if (entries.length === 0) await rmdir(host);
        else break;
      } catch { break; }
      p = posix.dirname(p);
    }
  }
}
