/**
 * What the layer writer reads a tree through: each entry as lstat and readdir describe it, and
 * where a file's bytes are. A directory on disk is one such tree (engine/layer/tarWriter.ts walks
 * it); a layer built in memory by COPY is another (engine/layer/diffTree.ts), so a COPY writes its
 * layer straight from its sources without creating the files first.
 */
export type LayerEntryType = 'directory' | 'file' | 'symlink' | 'character-device' | 'block-device' | 'fifo' | 'socket' | 'whiteout';

export interface LayerEntry {
  /** 'whiteout': an overlay whiteout, written as an empty `.wh.NAME` marker (its name says so). */
  readonly type: LayerEntryType;
  /** Permission bits (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Modification time, whole milliseconds since the epoch. */
  readonly mtimeMs: number;
  /** Files: how many bytes `content()` gives. */
  readonly size: number;
  /** Symlinks: the target as stored. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /**
   * Hard links: entries with the same defined key are one file; the first one written carries
   * it, later ones become links to it. Undefined for an entry with a single name.
   */
  readonly linkKey: unknown;
  /** Directories: the entries inside, by name, in any order (the writer sorts them). */
  children(): Iterable<readonly [string, LayerEntry]>;
  /** Files: their bytes, as a host path to read or the bytes themselves. */
  content(): string | Buffer;
  /** Extended attributes of the entry (only the ones the writer may record or consult). */
  xattrs(): ReadonlyMap<string, Buffer> | undefined;
}
