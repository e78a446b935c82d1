/**
 * What unpacks a layer blob into a directory, for the store's snapshots and root copies. The
 * store knows no layer format: whoever opens it hands it the unpacker (the CLI hands it
 * engine/layer/extract.ts's extractTar, loaded when a snapshot is first made).
 */

export interface UnpackOptions {
  /** 'overlay': whiteouts become overlayfs's (a snapshot, a lower dir); 'apply': they remove what they hide (a copied root). */
  whiteouts: 'overlay' | 'apply';
  /** Names the blob in error messages. */
  source: string;
  /** Where the disk cannot hold owners: told each entry's owner instead. */
  recordOwner?: (rel: string, uid: number, gid: number) => void;
}

export type LayerUnpacker = (blob: AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions) => Promise<unknown>;

/** The unpacker of a store opened without one: making a snapshot there is a bug of the caller's. */
export const NO_UNPACKER: LayerUnpacker = () => Promise.reject(new Error('this store was opened without a layer unpacker (StoreOptions.unpackLayer), and a snapshot had to be made'));
