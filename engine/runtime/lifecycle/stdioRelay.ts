/**
 * Relaying a child's standard streams when they are pipes: its stdout and stderr read to
 * their ends into callbacks, and an input stream copied into its stdin (closed at the input's
 * end, as docker's attach closes it for -i).
 */
import { createRequire } from 'node:module';
import type { NativeChild } from '../../../native/index.js';

/** node:net loads only when pipes are relayed. */
const builtin = createRequire(import.meta.url);

export function relayPipes(child: NativeChild, onStdout: (c: Buffer) => void, onStderr: (c: Buffer) => void, input?: NodeJS.ReadableStream): { done: Promise<void>; close: () => void } {
  const net = builtin('node:net') as typeof import('node:net');
  const done: Promise<void>[] = [];
  const read = (fd: number | undefined, onData: (c: Buffer) => void): void => {
    if (fd === undefined) return;
    const sock = new net.Socket({ fd, readable: true, writable: false });
    sock.on('data', onData);
    done.push(new Promise((resolve) => { sock.on('close', () => resolve()); sock.on('error', () => resolve()); }));
  };
  read(child.stdoutFd, onStdout);
  read(child.stderrFd, onStderr);
  let close = (): void => undefined;
  if (input && child.stdinFd !== undefined) {
    const pipe = new net.Socket({ fd: child.stdinFd, readable: false, writable: true });
    pipe.on('error', () => { input.unpipe(pipe); }); // EPIPE: the process closed its stdin
    input.pipe(pipe);
    close = () => {
      input.unpipe(pipe);
      pipe.destroy();
      if (input === process.stdin) process.stdin.pause();
    };
  }
  return { done: Promise.all(done).then(() => undefined), close };
}
