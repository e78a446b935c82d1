/**
 * The two pipes between kiln and a child the addon started: the gate the child waits on before
 * it does anything in its namespaces (kiln writes the id maps and cgroup first), and the error
 * pipe on which a failed set-up or exec reports "ERRNO<TAB>EXIT<TAB>message".
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { KilnError } from '../errors.js';

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

export function openGate(fd: number, setgroups: boolean): void {
  writeSync(fd, setgroups ? 'g' : 'n');
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
