/**
 * A kiln command run in the background by a test (a container that serves while the test acts):
 * resolved once its output has printed a line `ready`; the container reads its stdin, so
 * stop() ends it by closing that, kill() sends kiln SIGKILL.
 */
import { spawn } from 'node:child_process';

export interface Background {
  /** What it printed so far. */
  output(): string;
  /** Closes its stdin; resolves with kiln's exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL to the process started (kiln itself, or setpriv/nsenter, which exec it). */
  kill(): Promise<void>;
}

/** The shell line a background container runs: `script`, then `ready`, then it waits for stdin to end. */
export function untilStdinEnds(script: string): string {
  return `${script}; echo ready; read line || true`;
}

export function background(argv: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Background> {
  const child = spawn(argv[0] as string, argv.slice(1), { env, ...(cwd ? { cwd } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      const before = out;
      out += c.toString();
      if (!before.includes('ready\n') && out.includes('ready\n')) {
        resolve({
          output: () => out,
          stop: async () => { child.stdin.end(); return exited; },
          kill: async () => { child.kill('SIGKILL'); await exited; },
        });
      }
    });
    void exited.then((code) => reject(new Error(`${argv.join(' ')} exited ${code} before it was ready: ${err}`)));
  });
}
