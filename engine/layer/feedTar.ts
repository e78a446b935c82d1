/**
 * Pushes a byte stream into a tar-stream extractor with backpressure, so a layer of any size
 * passes through in bounded memory. The returned promise settles once the input is consumed
 * (or abandoned); a read error destroys the extractor, which surfaces it to the entry loop.
 */
import type { Extract } from 'tar-stream';

export interface FeedOptions {
  /**
   * Keep reading the input after the extractor stopped early. For callers that hash every byte
   * on the way in: the digest must cover the whole stream even when the tar ends early.
   */
  drainAfterClose?: boolean;
}

export async function feedTar(input: AsyncIterable<Uint8Array>, extractor: Extract, opts: FeedOptions = {}): Promise<void> {
  try {
    for await (const chunk of input) {
      if (extractor.destroyed) {
        if (opts.drainAfterClose) continue;
        break;
      }
      if (!extractor.write(chunk)) {
        await new Promise<void>((r) => {
          const done = (): void => { extractor.off('drain', done); extractor.off('close', done); r(); };
          extractor.on('drain', done);
          extractor.on('close', done);
        });
      }
    }
    if (!extractor.destroyed) (extractor as unknown as { end(): void }).end();
  } catch (err) {
    extractor.destroy(err as Error);
  }
}
