/**
 * Streaming decompression of layer blobs. gzip uses Node's zlib. zstd (Node 20's zlib has none)
 * goes through the reference `zstd` program, a Debian package, as a pipe: streamed, bounded
 * memory, and its exit status checked. Without the program a zstd layer is a clear error.
 */
import { Duplex, PassThrough, type Transform } from 'node:stream';
import { KilnError } from '../errors/kilnError.js';
import type { LayerCompression } from '../image/mediaTypes.js';
import { nodeChildProcess, nodeZlib } from '../lateLoading.js';

function zstdDecoder(subject: string): Duplex {
  const child = nodeChildProcess().spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const out = new PassThrough();
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  let exited = false;
  child.stdout.on('data', (c: Buffer) => {
    if (!out.write(c)) child.stdout.pause();
  });
  out.on('drain', () => child.stdout.resume());
  const finish = (err?: Error): void => {
    if (exited) return;
    exited = true;
    if (err) out.destroy(err);
    else out.end();
  };
  child.on('error', (e: NodeJS.ErrnoException) => {
    finish(e.code === 'ENOENT' ? new KilnError('ZSTD_UNAVAILABLE', `${subject} has zstd-compressed layers; install the zstd program to pull it`) : e);
  });
  // 'close' comes after stdout has ended, so every decompressed byte is out before we end.
  child.on('close', (code, signal) => {
    finish(code === 0 ? undefined : new KilnError('BAD_LAYER', `zstd could not decompress a layer of ${subject}: ${stderr.trim() || `exit ${code ?? signal}`}`));
  });
  duplex.on('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  child.stdin.on('error', () => {
    /* an early exit of zstd is reported through 'close' */
  });
  return duplex;
}

export function decompressor(compression: LayerCompression, subject: string): Transform | Duplex {
  switch (compression) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      // Big output chunks: a 16 KiB default means thousands of tiny writes and much GC per layer.
      return nodeZlib().createGunzip({ chunkSize: 512 * 1024 });
    case 'zstd':
      return zstdDecoder(subject);
  }
}
