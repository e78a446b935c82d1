/**
 * Reading a container's json-file log for `kiln logs`: entries streamed from a file offset
 * (never the whole file in memory), the offset where the last N entries begin (read backwards
 * in blocks), and following the file while the container runs.
 */
import { closeSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { parseRfc3339, type NanoTime } from './logClock.js';
import type { LogStream } from './jsonLog.js';

export interface LogEntry {
  stream: LogStream;
  /** The logged bytes (a complete line ends with its newline). */
  text: Buffer;
  time: NanoTime;
}

const BLOCK = 64 * 1024;

/** Parses one line of the log; undefined for a line that is not an entry (cut short by a crash). */
export function parseLogLine(line: string): LogEntry | undefined {
  try {
    const o = JSON.parse(line) as { log?: unknown; stream?: unknown; time?: unknown };
    const time = typeof o.time === 'string' ? parseRfc3339(o.time) : undefined;
    if (time === undefined || (o.stream !== 'stdout' && o.stream !== 'stderr')) return undefined;
    return { stream: o.stream, text: Buffer.from(typeof o.log === 'string' ? o.log : '', 'utf8'), time };
  } catch {
    return undefined;
  }
}

/** The offset at which the last `count` lines of the file begin (0 when it has fewer). */
export function tailOffset(file: string, count: number): number {
  if (count <= 0) {
    try { return statSync(file).size; } catch { return 0; }
  }
  let fd: number;
  try { fd = openSync(file, 'r'); } catch { return 0; }
  try {
    const end = statSync(file).size;
    const buf = Buffer.alloc(BLOCK);
    let newlines = 0;
    let pos = end;
    while (pos > 0) {
      const len = Math.min(BLOCK, pos);
      pos -= len;
      readSync(fd, buf, 0, len, pos);
      for (let i = len - 1; i >= 0; i--) {
        // The newline that ends the last line does not begin another one.
        if (buf[i] !== 0x0a || pos + i === end - 1) continue;
        if (++newlines === count) return pos + i + 1;
      }
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the complete lines from `offset` on, calling `onEntry` for each entry; returns the
 * offset after the last complete line (a line still being written is left for later).
 */
export function readEntriesFrom(file: string, offset: number, onEntry: (e: LogEntry) => void): number {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch { return offset; }
  try {
    const buf = Buffer.alloc(BLOCK);
    let carry: Buffer = Buffer.alloc(0);
    let pos = offset;
    let consumed = offset;
    for (;;) {
      const n = readSync(fd, buf, 0, BLOCK, pos);
      if (n <= 0) break;
      pos += n;
      const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let at = 0;
      for (let nl = data.indexOf(0x0a, at); nl >= 0; nl = data.indexOf(0x0a, at)) {
        const entry = parseLogLine(data.subarray(at, nl).toString('utf8'));
        if (entry) onEntry(entry);
        consumed += nl + 1 - at;
        at = nl + 1;
      }
      carry = Buffer.from(data.subarray(at));
    }
    return consumed;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads new entries as they are appended, from `offset`, until `running()` says the container
 * stopped (then what it wrote last is read too). Resolves when done or when `signal` aborts.
 */
export async function followEntries(file: string, offset: number, onEntry: (e: LogEntry) => void, running: () => boolean, signal?: AbortSignal): Promise<void> {
  let pos = offset;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(file, { persistent: true }, () => wake?.());
  } catch {
    // no inotify: the poll below still notices appends
  }
  const onAbort = (): void => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      pos = readEntriesFrom(file, pos, onEntry);
      if (signal?.aborted) return;
      if (!running()) {
        readEntriesFrom(file, pos, onEntry);
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', onAbort);
  }
}
