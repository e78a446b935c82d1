/**
 * Compression detected by content, not by name (what docker load and ADD do): gzip, bzip2, xz,
 * zstd or plain. Node decompresses gzip itself; the others go through the system's bzip2, xz
 * and zstd tools, streaming, so nothing is held whole in memory.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../errors/kilnError.js';
import { nodeChildProcess, nodeZlib } from '../lateLoading.js';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

export function detectCompression(head: Uint8Array): Compression {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

const TOOL: Record<Exclude<Compression, 'none' | 'gzip'>, string> = { bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' };

async function* fromIterator(head: Buffer, it: AsyncIterator<Uint8Array | string>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
  }
}

export interface Decompressed {
  compression: Compression;
  /** The uncompressed bytes. */
  stream: AsyncIterable<Buffer>;
}

/**
 * Sniffs the first bytes of `source` and returns its uncompressed content. `onRaw` sees every
 * byte of the input as it was (to hash a compressed blob while decompressing it).
 */
export async function decompress(source: AsyncIterable<Uint8Array | string>, opts: { onRaw?: (chunk: Buffer) => void; what?: string } = {}): Promise<Decompressed> {
  const it = source[Symbol.asyncIterator]();
  const raw = async function* (): AsyncGenerator<Buffer> {
    for await (const c of src) {
      opts.onRaw?.(c);
      yield c;
    }
  };
  let head = Buffer.alloc(0);
  while (head.length < 6) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, typeof r.value === 'string' ? Buffer.from(r.value) : r.value]);
  }
  const compression = detectCompression(head);
  const src = fromIterator(head, it);
  if (compression === 'none') return { compression, stream: raw() };
  if (compression === 'gzip') {
    const gunzip = nodeZlib().createGunzip();
    const done = pipeline(Readable.from(raw()), gunzip).catch((err: unknown) => { gunzip.destroy(err as Error); });
    void done;
    return { compression, stream: gunzip };
  }
  const tool = TOOL[compression];
  return { compression, stream: throughTool(tool, raw(), opts.what ?? 'archive') };
}

async function* throughTool(tool: string, input: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const child = nodeChildProcess().spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new KilnError('TOOL_MISSING', `${what} is ${tool}-compressed but the ${tool} program is not installed`) : err));
    child.once('spawn', () => resolve());
  });
  await spawned;
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? 1)));
  const feeding = pipeline(Readable.from(input), child.stdin).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') child.kill();
    return err;
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
  } finally {
    if (child.exitCode === null) child.kill();
  }
  const feedErr = await feeding;
  const code = await exited;
  if (code !== 0) throw new KilnError('DECOMPRESS', `${what}: ${tool} could not decompress it: ${stderr.trim() || `exit status ${code}`}`);
  if (feedErr instanceof Error && (feedErr as NodeJS.ErrnoException).code !== 'EPIPE') throw feedErr;
}
