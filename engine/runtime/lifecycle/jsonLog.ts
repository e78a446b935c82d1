/**
 * A container's output as docker's json-file log driver writes it: one JSON object a line,
 * `{"log":"…","stream":"stdout|stderr","time":"RFC3339Nano"}`, the text escaped byte for byte as
 * moby's jsonlog encoder escapes it (<, > and & as \u003c…, control bytes as \u00XX, each
 * invalid UTF-8 byte as \ufffd, U+2028/2029 escaped). Output is cut into entries as moby's
 * copier cuts it: one entry a line (its newline kept); a line longer than 16 KiB is logged in
 * 16 KiB pieces without a newline, and what is left when the stream ends is logged as is.
 */
import { writeSync } from 'node:fs';
import { nowNanos, rfc3339Nano, type NanoTime } from './logClock.js';

export type LogStream = 'stdout' | 'stderr';

/** moby's defaultBufSize: the longest piece of a line logged at once. */
export const MAX_ENTRY_BYTES = 16 * 1024;

const HEX = '0123456789abcdef';

/** Length of the valid UTF-8 sequence at `i` (Go's utf8.DecodeRune rules), or 0 when invalid. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i] as number;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no surrogates
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** The bytes as a JSON string literal, escaped as moby's ffjsonWriteJSONBytesAsString does. */
export function jsonStringOfBytes(s: Buffer): Buffer {
  const out: Buffer[] = [Buffer.from('"')];
  let start = 0;
  const flush = (end: number): void => { if (start < end) out.push(s.subarray(start, end)); };
  for (let i = 0; i < s.length;) {
    const b = s[i] as number;
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x5c && b !== 0x22 && b !== 0x3c && b !== 0x3e && b !== 0x26) { i++; continue; }
      flush(i);
      if (b === 0x5c || b === 0x22) out.push(Buffer.from([0x5c, b]));
      else if (b === 0x0a) out.push(Buffer.from('\\n'));
      else if (b === 0x0d) out.push(Buffer.from('\\r'));
      else out.push(Buffer.from(`\\u00${HEX[b >> 4]}${HEX[b & 0xf]}`));
      start = ++i;
      continue;
    }
    const n = utf8Length(s, i);
    if (n === 0) {
      flush(i);
      out.push(Buffer.from('\\ufffd'));
      start = ++i;
      continue;
    }
    // U+2028 and U+2029 (E2 80 A8 / E2 80 A9) break JavaScript string literals.
    if (n === 3 && b === 0xe2 && s[i + 1] === 0x80 && (s[i + 2] === 0xa8 || s[i + 2] === 0xa9)) {
      flush(i);
      out.push(Buffer.from(`\\u202${HEX[(s[i + 2] as number) & 0xf]}`));
      start = i += 3;
      continue;
    }
    i += n;
  }
  flush(s.length);
  out.push(Buffer.from('"'));
  return Buffer.concat(out);
}

/** One log line (with its trailing newline), as jsonlog.JSONLogs.MarshalJSONBuf writes it. */
export function logLine(text: Buffer, stream: LogStream, time: NanoTime): Buffer {
  const parts: Buffer[] = [Buffer.from('{')];
  if (text.length > 0) parts.push(Buffer.from('"log":'), jsonStringOfBytes(text), Buffer.from(','));
  parts.push(Buffer.from(`"stream":"${stream}","time":"${rfc3339Nano(time)}"}\n`));
  return Buffer.concat(parts);
}

/**
 * Cuts one stream's output into entries: `push` data as it arrives, `end` when the stream
 * closed. `emit` gets each entry's text (a complete line keeps its newline) and its time (the
 * pieces of one long line share the first piece's time, as moby's partial entries do).
 */
export class LineCutter {
  private pending: Buffer = Buffer.alloc(0);
  private partialTime: NanoTime | undefined;

  constructor(private readonly emit: (text: Buffer, time: NanoTime) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    for (let nl = this.pending.indexOf(0x0a, at); nl >= 0; nl = this.pending.indexOf(0x0a, at)) {
      this.emit(this.pending.subarray(at, nl + 1), this.partialTime ?? nowNanos());
      this.partialTime = undefined;
      at = nl + 1;
    }
    while (this.pending.length - at >= MAX_ENTRY_BYTES) {
      this.partialTime ??= nowNanos();
      this.emit(this.pending.subarray(at, at + MAX_ENTRY_BYTES), this.partialTime);
      at += MAX_ENTRY_BYTES;
    }
    this.pending = Buffer.from(this.pending.subarray(at));
  }

  end(): void {
    if (this.pending.length > 0) this.emit(this.pending, this.partialTime ?? nowNanos());
    this.pending = Buffer.alloc(0);
    this.partialTime = undefined;
  }
}

/** Appends entries of both streams to a log file open for appending (one write each). */
export class JsonLogWriter {
  private readonly cutters: Record<LogStream, LineCutter>;

  constructor(private readonly fd: number) {
    const cutter = (stream: LogStream): LineCutter => new LineCutter((text, time) => this.write(logLine(text, stream, time)));
    this.cutters = { stdout: cutter('stdout'), stderr: cutter('stderr') };
  }

  push(stream: LogStream, chunk: Buffer): void {
    this.cutters[stream].push(chunk);
  }

  /** The streams ended (the container exited): what is left of a line is logged. */
  end(): void {
    this.cutters.stdout.end();
    this.cutters.stderr.end();
  }

  private write(line: Buffer): void {
    let off = 0;
    try {
      while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
    } catch {
      // A full disk loses log lines, never the container (docker's json-file logger does the same).
    }
  }
}
