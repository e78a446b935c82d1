/**
 * Whether a descriptor is a terminal, without loading Node's tty module in the common case:
 * `node:tty` loads `net` and the whole stream machinery (about 5 ms of a short command). A
 * terminal is a character device, so a pipe or a file (CI logs, a script's capture) is answered
 * by one fstat; only a character device (a terminal, or /dev/null) asks the tty module.
 */
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';

export function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false; // closed
  }
  const tty = createRequire(import.meta.url)('node:tty') as typeof import('node:tty');
  return tty.isatty(fd);
}
