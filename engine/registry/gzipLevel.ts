/**
 * The gzip level for pushing a layer, chosen from samples of its content. Deflate costs about
 * as much CPU on incompressible data (already-compressed archives, media, random bytes) as on
 * text, and gains nothing there; such layers go up as stored (level 0) gzip, which every
 * client reads like any other gzip. The samples are at fixed offsets of the file, so the choice,
 * and therefore the pushed digest, is a function of the layer alone.
 */
import { open } from 'node:fs/promises';
import { nodeZlib } from '../lateLoading.js';

const SAMPLES = 4;
const SAMPLE_BYTES = 256 * 1024;
/** Above this compressed/raw ratio, compressing is not worth the CPU. */
const INCOMPRESSIBLE_RATIO = 0.9;

export const FAST_GZIP_LEVEL = 1; // zlib's Z_BEST_SPEED
export const STORED_GZIP_LEVEL = 0; // zlib's Z_NO_COMPRESSION

export async function gzipLevelFor(path: string, size: number): Promise<number> {
  if (size < SAMPLES * SAMPLE_BYTES) return FAST_GZIP_LEVEL;
  const fh = await open(path, 'r');
  try {
    let raw = 0;
    let packed = 0;
    const buf = Buffer.alloc(SAMPLE_BYTES);
    for (let i = 0; i < SAMPLES; i++) {
      const offset = Math.floor(((size - SAMPLE_BYTES) * i) / (SAMPLES - 1));
      const { bytesRead } = await fh.read(buf, 0, SAMPLE_BYTES, offset);
      raw += bytesRead;
      packed += nodeZlib().deflateRawSync(buf.subarray(0, bytesRead), { level: FAST_GZIP_LEVEL }).length;
    }
    return packed / raw > INCOMPRESSIBLE_RATIO ? STORED_GZIP_LEVEL : FAST_GZIP_LEVEL;
  } finally {
    await fh.close();
  }
}
