/**
 * `kiln attach [--no-stdin] [--sig-proxy=false] CONTAINER`: connects to a detached container's
 * supervisor and shows its output from now on; keystrokes go to its stdin when it was started
 * with -i (raw, with the ctrl-p ctrl-q detach sequence, when it has a terminal); signals kiln
 * receives are passed on to it (without a terminal); kiln exits with the container's exit code.
 */
import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords } from './containerTargets.js';
import { KilnError } from '../errors/kilnError.js';
import { isLive } from '../runtime/containerRecords.js';
import { FrameKind, FrameReader, frame, socketPath } from '../runtime/lifecycle/attachFrames.js';
import { signalContainer } from '../runtime/lifecycle/containerControl.js';
import { storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';

export const spec: CommandSpec = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'no-stdin', kind: 'bool', description: 'Do not attach STDIN' },
    { name: 'sig-proxy', kind: 'bool', description: 'Proxy all received signals to the process (default true)' },
  ],
};

/** ctrl-p ctrl-q, docker's detach keys. */
const DETACH = Buffer.from([0x10, 0x11]);
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

function connectTo(containerDir: string): Promise<Socket> {
  const { path, dirFd } = socketPath(containerDir, (d) => openSync(d, 'r'));
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const settle = (): void => { if (dirFd !== undefined) closeSync(dirFd); };
    socket.once('connect', () => { settle(); resolve(socket); });
    socket.once('error', (err) => { settle(); reject(err); });
  });
}

export async function run(args: ParsedArgs): Promise<number> {
  const name = args.positionals[0] as string;
  const records = await containerRecords();
  const rec = await records.get(name);
  if (!isLive(rec)) throw new KilnError('NOT_RUNNING', 'You cannot attach to a stopped container, start it first');
  if (!rec.detached) throw new KilnError('NOT_DETACHED', `container ${name} runs in the foreground of another kiln run: only containers run with -d (or kiln start) can be attached`);
  const dir = records.containerDir(rec.id);
  const stored = storedContainerOrUndefined(dir);
  const tty = stored?.tty ?? false;
  const withStdin = !args.bools.has('no-stdin') && (stored?.openStdin ?? false);
  let socket: Socket;
  try {
    socket = await connectTo(dir);
  } catch (err) {
    throw new KilnError('ATTACH', `cannot attach to container ${name}: its supervisor does not answer (${(err as Error).message})`);
  }
  socket.write(`${JSON.stringify({ stdin: withStdin })}\n`);
  const undo: (() => void)[] = [];
  const exitCode = new Promise<number>((resolve) => {
    let code: number | undefined;
    const reader = new FrameReader((kind, payload) => {
      if (kind === FrameKind.Stdout) process.stdout.write(payload);
      else if (kind === FrameKind.Stderr) process.stderr.write(payload);
      else if (kind === FrameKind.Exit) code = Number(payload.toString());
    });
    socket.on('data', (c: Buffer) => reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(code ?? records.read(rec.id)?.exitCode ?? 0));
  });
  if (withStdin) undo.push(relayInput(socket, tty));
  if (tty && process.stdout.isTTY) {
    const size = (): void => { socket.write(frame(FrameKind.Resize, `${process.stdout.rows} ${process.stdout.columns}`)); };
    size();
    process.stdout.on('resize', size);
    undo.push(() => process.stdout.off('resize', size));
  }
  if (!tty && !args.negated?.has('sig-proxy')) {
    const proxy = (sig: NodeJS.Signals): void => {
      void signalContainer(dir, rec, sig, { kind: 'kill', canceled: !stored?.stopSignalSet || sig === stored?.stopSignal });
    };
    for (const sig of PROXIED) process.on(sig, proxy);
    undo.push(() => { for (const sig of PROXIED) process.off(sig, proxy); });
  }
  try {
    return await exitCode;
  } finally {
    for (const u of undo.reverse()) u();
  }
}

/** Keystrokes to the container; with a terminal, raw, and ctrl-p ctrl-q detaches. */
function relayInput(socket: Socket, tty: boolean): () => void {
  const input = process.stdin;
  const raw = tty && input.isTTY;
  if (raw) input.setRawMode(true);
  let last = -1;
  const onData = (chunk: Buffer): void => {
    if (raw) {
      for (const b of chunk) {
        if (last === DETACH[0] && b === DETACH[1]) {
          process.stderr.write('\r\nread escape sequence\r\n');
          socket.destroy();
          return;
        }
        last = b;
      }
    }
    socket.write(frame(FrameKind.Stdin, chunk));
  };
  input.on('data', onData);
  input.resume();
  return () => {
    input.off('data', onData);
    if (raw) input.setRawMode(false);
    input.pause();
  };
}
