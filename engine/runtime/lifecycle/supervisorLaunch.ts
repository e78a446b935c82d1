/**
 * Starting a container's supervisor from a command (`kiln run -d`, `kiln start`, `kiln restart`):
 * kiln again, as `kiln supervise`, detached into a session of its own with /dev/null for its
 * standard streams and one socket back to the command. The command may launch it early (node's
 * start-up then overlaps the command's own work), names the container when it is ready, and
 * waits for the first start's report: the command's pid once it was executed, or why the start
 * failed. A command that gives up (or dies) before naming a container leaves a supervisor that
 * reads the end of its socket and exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../../errors/kilnError.js';
import type { StartReport } from './supervisor.js';

/** The kiln entry point to run again: the one this process runs, else the checkout's bin/kiln. */
function kilnEntry(): string {
  const argv1 = process.argv[1];
  if (argv1 !== undefined && /(^|\/)kiln(\.c?js)?$/.test(argv1) && existsSync(argv1)) return argv1;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'bin', 'kiln');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find bin/kiln to start a container supervisor');
    dir = up;
  }
}

export class SupervisorLaunch {
  private constructor(private readonly child: ChildProcess, private readonly channel: Socket) {}

  /** Starts `kiln supervise` for the store at `storeRoot`; it waits to be told which container. */
  static begin(storeRoot: string): SupervisorLaunch {
    const child = spawn(process.execPath, [kilnEntry(), '--root', storeRoot, 'supervise'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: process.env,
    });
    const channel = child.stdio[3] as Socket;
    channel.on('error', () => undefined);
    child.on('error', () => undefined);
    child.unref();
    return new SupervisorLaunch(child, channel);
  }

  /** Hands over container `id` and waits for its first start; throws the start's error. */
  async start(id: string): Promise<number> {
    const reply = new Promise<string>((resolve) => {
      let text = '';
      const done = (): void => resolve(text);
      this.channel.on('data', (c: Buffer) => {
        text += c.toString('utf8');
        if (text.includes('\n')) done();
      });
      this.channel.once('close', done);
    });
    this.channel.write(`${JSON.stringify({ id })}\n`);
    const line = (await reply).split('\n')[0] ?? '';
    this.channel.destroy();
    (this.child.stdio[3] as Socket | null)?.unref?.();
    let report: StartReport;
    try {
      report = JSON.parse(line) as StartReport;
    } catch {
      throw new KilnError('SUPERVISOR', `the supervisor of container ${id} ended before the container started (pid ${this.child.pid ?? '?'})`, { exitCode: 125 });
    }
    if (!report.ok) throw new KilnError(report.code, report.message, { exitCode: report.exitCode });
    return report.pid;
  }

  /** The command gave up: the supervisor reads the end of its socket and exits. */
  abandon(): void {
    this.channel.destroy();
  }
}

/**
 * The supervisor's side: the container the launching command names on descriptor 3, and a
 * way to send it the first start's report (one line), after which the socket is closed.
 */
export async function receiveAssignment(): Promise<{ id: string; report: (r: StartReport) => void } | undefined> {
  const { Socket: NetSocket } = await import('node:net');
  const channel = new NetSocket({ fd: 3, readable: true, writable: true });
  channel.on('error', () => undefined);
  const line = await new Promise<string | undefined>((resolve) => {
    let text = '';
    channel.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    channel.once('close', () => resolve(undefined));
  });
  channel.removeAllListeners('data');
  if (line === undefined) return undefined;
  const { id } = JSON.parse(line) as { id: string };
  return {
    id,
    report: (r) => {
      channel.end(`${JSON.stringify(r)}\n`);
      channel.unref();
    },
  };
}
