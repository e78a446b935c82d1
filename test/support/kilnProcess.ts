/** Running kiln and other commands from integration tests, asynchronously (a test may serve HTTP meanwhile). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { kilnBin } from './env.js';

export interface Result { code: number; stdout: string; stderr: string }

export function runCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    // A command may end without reading all its input (as a container that never reads stdin).
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** kiln with its store at `storeRoot`. */
export function runKiln(storeRoot: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Result> {
  return runCommand(process.execPath, [kilnBin, ...args], { ...opts, env: { ...process.env, ...opts.env, KILN_ROOT: storeRoot } });
}

export async function succeeds(r: Promise<Result>): Promise<Result> {
  const res = await r;
  assert.equal(res.code, 0, `exit ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return res;
}

export async function writeFiles(dir: string, map: Record<string, string | Buffer>): Promise<void> {
  for (const [p, content] of Object.entries(map)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content);
  }
}

/**
 * A build context under `parent/name`: the Dockerfile and `files`, each file's mtime set to
 * `mtimeSeconds` so cache tests control what "touched" means.
 */
export function makeContext(parent: string, name: string, dockerfile: string, files: Record<string, string>, mtimeSeconds: number): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
    utimesSync(join(dir, p), mtimeSeconds, mtimeSeconds);
  }
  return dir;
}
