/**
 * The two pipes between kiln and a child the addon started: the gate the child waits on twice,
 * before it sets up its root (kiln writes the id maps first) and before it leaves kiln's code
 * (kiln puts it in its cgroup meanwhile), and the error
 * pipe on which a failed set-up or exec reports "ERRNO<TAB>EXIT<TAB>message".
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { KilnError } from '../errors/kilnError.js';

/** Turns the child's "ERRNO\tEXIT\tmessage" report into a KilnError. */
export function setupFailure(report: string): KilnError {
  const [errnoText, exitText, ...rest] = report.split('\t');
  const errno = Number(errnoText);
  const exitCode = Number(exitText) || 125;
  let message = rest.join('\t');
  if (errno > 0) {
    let name = '';
    try {
      name = getSystemErrorName(-errno);
    } catch {
      name = `errno ${errno}`;
    }
    message += `: ${describeErrno(name)}`;
  }
  return new KilnError(exitCode === 125 ? 'CONTAINER_START' : 'EXEC', message, { exitCode });
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory', EINVAL: 'invalid argument', ENOEXEC: 'exec format error', EBUSY: 'device or resource busy',
  ENOSPC: 'no space left on device', EROFS: 'read-only file system', ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long', EEXIST: 'file exists', ENODEV: 'no such device',
};

function describeErrno(name: string): string {
  return ERRNO_TEXT[name] ? `${ERRNO_TEXT[name]} (${name})` : name;
}

/** The first byte: the child may set up its root (and whether setgroups is allowed there). */
export function openGate(fd: number, setgroups: boolean): void {
  writeSync(fd, setgroups ? 'g' : 'n');
}

/** The second byte: the child is in its cgroup and may go on to exec the container's command. */
export function releaseGate(fd: number): void {
  writeSync(fd, 'c');
  closeSync(fd);
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** The error pipe is non-blocking: after exit it holds the whole report or nothing. */
export function drainNonBlocking(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch {
      break;
    }
    if (n <= 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}
