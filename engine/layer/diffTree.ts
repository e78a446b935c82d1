/**
 * A layer being built in memory: directories, files, symlinks, hard links and special files with
 * their final attributes, each file's bytes left where they are (a host path: the COPY source,
 * a download, an unpacked archive) or held when small and generated (a heredoc). COPY, ADD and
 * WORKDIR fill one instead of a diff dir on disk, and the layer writer reads it like a directory:
 * each source is read once, while the tar is written, and no file is created for the layer.
 * Paths are image paths (`/a/b`); a path's parents must exist as directories before it is made.
 */
import type { LayerEntry, LayerEntryType } from './layerEntry.js';

/** The attributes every node has. */
export interface NodeAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

export class DiffNode implements LayerEntry {
  /** How many paths name this node: more than one makes it a hard-linked file. */
  private names = 0;
  private readonly kids: Map<string, DiffNode> | undefined;

  private constructor(
    readonly type: LayerEntryType,
    public mode: number,
    public uid: number,
    public gid: number,
    public mtimeMs: number,
    readonly size: number,
    private readonly source: string | Buffer | undefined,
    readonly linkname: string,
    readonly devmajor: number,
    readonly devminor: number,
  ) {
    this.kids = type === 'directory' ? new Map() : undefined;
  }

  static directory(a: NodeAttrs): DiffNode {
    return new DiffNode('directory', a.mode, a.uid, a.gid, a.mtimeMs, 0, undefined, '', 0, 0);
  }

  /** A regular file whose bytes are `content`: a host path holding `size` bytes, or the bytes. */
  static file(a: NodeAttrs, content: string | Buffer, size: number): DiffNode {
    return new DiffNode('file', a.mode, a.uid, a.gid, a.mtimeMs, size, content, '', 0, 0);
  }

  static symlink(a: NodeAttrs, target: string): DiffNode {
    return new DiffNode('symlink', a.mode, a.uid, a.gid, a.mtimeMs, 0, undefined, target, 0, 0);
  }

  static special(type: 'character-device' | 'block-device' | 'fifo', a: NodeAttrs, major: number, minor: number): DiffNode {
    return new DiffNode(type, a.mode, a.uid, a.gid, a.mtimeMs, 0, undefined, '', major, minor);
  }

  get linkKey(): unknown {
    return this.names > 1 ? this : undefined;
  }

  setAttrs(a: NodeAttrs): void {
    this.mode = a.mode;
    this.uid = a.uid;
    this.gid = a.gid;
    this.mtimeMs = a.mtimeMs;
  }

  children(): Iterable<readonly [string, LayerEntry]> {
    return this.kids ?? [];
  }

  content(): string | Buffer {
    if (this.source === undefined) throw new Error(`layer entry of type ${this.type} has no content`);
    return this.source;
  }

  xattrs(): undefined {
    return undefined;
  }

  /** @internal for DiffTree */
  entries(): Map<string, DiffNode> | undefined {
    return this.kids;
  }

  /** @internal for DiffTree: a path now names (+1) or no longer names (-1) this node and what it holds. */
  counted(delta: 1 | -1): void {
    this.names += delta;
    if (this.kids) for (const k of this.kids.values()) k.counted(delta);
  }
}

/** The names along an image path, `.` and `..` resolved (never above the root). */
function components(imagePath: string): string[] {
  const parts: string[] = [];
  for (const p of imagePath.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts;
}

export class DiffTree {
  /** The layer's root: never written as an entry itself. */
  readonly root = DiffNode.directory({ mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 });

  /** The node at `imagePath`, if every parent on the way is a directory of this tree. */
  get(imagePath: string): DiffNode | undefined {
    let cur: DiffNode | undefined = this.root;
    for (const name of components(imagePath)) {
      cur = cur.entries()?.get(name);
      if (cur === undefined) return undefined;
    }
    return cur;
  }

  /** Removes whatever `imagePath` names (a directory with everything in it). */
  remove(imagePath: string): void {
    const parts = components(imagePath);
    const name = parts.pop();
    if (name === undefined) return;
    const dir = this.get(parts.join('/'))?.entries();
    const node = dir?.get(name);
    if (!dir || !node) return;
    dir.delete(name);
    node.counted(-1);
  }

  /**
   * Puts `node` at `imagePath`, replacing what was there; the parent must be a directory of the
   * tree. Putting a node that is already somewhere else makes a hard link.
   */
  put(imagePath: string, node: DiffNode): DiffNode {
    const parts = components(imagePath);
    const name = parts.pop();
    if (name === undefined) throw new Error('the layer root cannot be replaced');
    const dir = this.get(parts.join('/'))?.entries();
    if (!dir) throw new Error(`no directory /${parts.join('/')} in the layer for ${imagePath}`);
    const old = dir.get(name);
    if (old === node) return node;
    if (old) old.counted(-1);
    dir.set(name, node);
    node.counted(1);
    return node;
  }

  isEmpty(): boolean {
    return (this.root.entries() as Map<string, DiffNode>).size === 0;
  }

  /** Newest mtime of anything in the layer, in whole seconds (0 when empty). */
  newestMtime(): number {
    let newest = 0;
    const walk = (d: DiffNode): void => {
      for (const n of (d.entries() as Map<string, DiffNode>).values()) {
        newest = Math.max(newest, Math.floor(n.mtimeMs / 1000));
        if (n.type === 'directory') walk(n);
      }
    };
    walk(this.root);
    return newest;
  }
}
