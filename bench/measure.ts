/** Timing a command as a user runs it: wall time from spawn to exit. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Timed {
  ok: boolean;
  ms: number;
  /** The tail of stderr/stdout when the command failed. */
  error?: string;
}

export function timeCommand(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<Timed> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d: Buffer): void => {
      tail = (tail + d.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, ms: 0, error: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code === 0) resolve({ ok: true, ms });
      else resolve({ ok: false, ms, error: `${argv.join(' ')}: exit ${code ?? signal}\n${tail.trim()}` });
    });
  });
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return 'n/a';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

export interface TimedWithMemory extends Timed {
  /** The largest resident set of the command's process, in MiB (GNU time's %M). */
  peakMiB?: number;
}

export const GNU_TIME = '/usr/bin/time';

/**
 * Like timeCommand, also reporting the command's peak memory through GNU time (Debian package
 * `time`); without it the memory is left out. The wall time includes time's own start (~1 ms).
 */
export async function timeCommandWithMemory(argv: string[], env: NodeJS.ProcessEnv, scratchDir: string, timeoutMs = 3_600_000): Promise<TimedWithMemory> {
  if (!existsSync(GNU_TIME)) return timeCommand(argv, env, timeoutMs);
  const out = join(scratchDir, `peak-${process.pid}-${Date.now()}.txt`);
  const t = await timeCommand([GNU_TIME, '-f', '%M', '-o', out, ...argv], env, timeoutMs);
  try {
    const kib = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    return Number.isFinite(kib) && kib > 0 ? { ...t, peakMiB: kib / 1024 } : t;
  } catch {
    return t;
  } finally {
    rmSync(out, { force: true });
  }
}
