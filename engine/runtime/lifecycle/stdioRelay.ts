/**
 * Relaying a child's standard streams when they are pipes: its stdout and stderr read to
 * their ends into callbacks, and an input stream copied into its stdin (closed at the input's
 * end, as docker's attach closes it for -i).
 */
import { close as closeFd, read as readFd } from 'node:fs';
import { createRequire } from 'node:module';
import type { NativeChild } from '../../../native/index.js';

/** node:net loads only when an input is relayed. */
const builtin = createRequire(import.meta.url);

const CHUNK = 64 * 1024;

/**
 * Reads `fd` (a blocking pipe) to its end into `onData`, then closes it. Plain reads on the
 * thread pool rather than a socket: Node's socket and stream machinery cost a short `kiln exec`
 * more than its output.
 */
function readToEnd(fd: number, onData: (c: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    const next = (): void => {
      const buf = Buffer.allocUnsafe(CHUNK);
      readFd(fd, buf, 0, CHUNK, null, (err, n) => {
        if (err || n === 0) {
          closeFd(fd, () => resolve());
          return;
        }
        onData(buf.subarray(0, n));
        next();
      });
    };
    next();
  });
}

export function relayPipes(child: NativeChild, onStdout: (c: Buffer) => void, onStderr: (c: Buffer) => void, input?: NodeJS.ReadableStream): { done: Promise<void>; close: () => void } {
  const done: Promise<void>[] = [];
  const read = (fd: number | undefined, onData: (c: Buffer) => void): void => {
    if (fd !== undefined) done.push(readToEnd(fd, onData));
  };
  read(child.stdoutFd, onStdout);
  read(child.stderrFd, onStderr);
  let close = (): void => undefined;
  if (input && child.stdinFd !== undefined) {
    const net = builtin('node:net') as typeof import('node:net');
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
