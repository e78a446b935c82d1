/**
 * Image efficiency as dive computes it (its filetree Efficiency), so `--min-efficiency` and
 * `--max-wasted` mean what `dive --ci`'s lowestEfficiency and highestWastedBytes mean:
 * - each layer is a tree of its tar entries (parents a path implies are nodes with no data;
 *   opaque-directory markers are left out);
 * - every leaf of every layer is a sighting of its path: a file's size is its header size; a
 *   whiteout's is 0 when it deletes a file and the whole subtree's when it deletes a directory
 *   of the layers below stacked as dive stacks them;
 * - a path's cumulative size sums its sightings, its minimum is the smallest one;
 *   efficiency = Σ minimum / Σ cumulative (1 when nothing has a size), and the wasted bytes
 *   are the cumulative sizes of the paths sighted more than once.
 * One difference: a whiteout of a path no layer below holds counts 0 here, where dive stops
 * reading the rest of that layer.
 */

interface Info { size: number; isDir: boolean }
const NO_INFO: Info = { size: 0, isDir: false };
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..';

class Node {
  readonly children = new Map<string, Node>();
  info: Info = NO_INFO;
  constructor(readonly name: string, readonly parent: Node | undefined) {}

  /** The path dive gives a node: a whiteout's own name loses its prefix. */
  path(): string {
    const names: string[] = [];
    for (let n: Node | undefined = this; n?.parent; n = n.parent) names.unshift(n === this && n.name.startsWith(WHITEOUT) ? n.name.slice(WHITEOUT.length) : n.name);
    return `/${names.join('/')}`;
  }

  /** Children first, in name order, as dive visits. */
  *childFirst(): Generator<Node> {
    for (const name of [...this.children.keys()].sort()) yield* (this.children.get(name) as Node).childFirst();
    if (this.parent) yield this;
  }
}

export class LayerTree {
  readonly root = new Node('', undefined);

  add(path: string, info: Info): void {
    const names = path.split('/').filter((p) => p !== '' && p !== '.');
    if (names.length === 0) return;
    let node = this.root;
    for (const name of names) {
      let child = node.children.get(name);
      if (!child) {
        if (name.startsWith(OPAQUE)) return;
        child = new Node(name, node);
        node.children.set(name, child);
      }
      node = child;
    }
    node.info = info;
  }

  get(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const name of path.split('/').filter((p) => p !== '')) node = node?.children.get(name);
    return node;
  }

  remove(path: string): void {
    const node = this.get(path);
    if (node?.parent) node.parent.children.delete(node.name);
  }

  /** Lays `upper` over this tree as dive's Stack does. */
  stack(upper: LayerTree): void {
    for (const node of upper.root.childFirst()) {
      if (node.name.startsWith(WHITEOUT)) this.remove(node.path());
      else this.add(node.path(), node.info);
    }
  }
}

export interface DivePath { path: string; layers: number[]; cumulative: number; minimum: number }
export interface DiveResult { efficiency: number; wastedBytes: number; inefficient: DivePath[] }

/** Takes the layers bottom first; each tree is read once and stacked, never copied. */
export function diveEfficiency(trees: readonly LayerTree[]): DiveResult {
  const paths = new Map<string, DivePath>();
  const below = new LayerTree();
  trees.forEach((tree, index) => {
    for (const node of tree.root.childFirst()) {
      if (node.children.size > 0) continue;
      const path = node.path();
      let size = node.info.size;
      if (node.name.startsWith(WHITEOUT)) {
        size = 0;
        const previous = below.get(path);
        // The directory's subtree, itself included.
        if (previous?.info.isDir) for (const n of previous.childFirst()) size += n.info.size;
      }
      const seen = paths.get(path);
      if (seen) {
        seen.layers.push(index);
        seen.cumulative += size;
        seen.minimum = Math.min(seen.minimum, size);
      } else {
        paths.set(path, { path, layers: [index], cumulative: size, minimum: size });
      }
    }
    below.stack(tree);
  });
  let minimum = 0;
  let cumulative = 0;
  for (const p of paths.values()) {
    minimum += p.minimum;
    cumulative += p.cumulative;
  }
  const inefficient = [...paths.values()].filter((p) => p.layers.length > 1).sort((a, b) => b.cumulative - a.cumulative);
  return {
    efficiency: cumulative === 0 ? 1 : minimum / cumulative,
    wastedBytes: inefficient.reduce((a, p) => a + p.cumulative, 0),
    inefficient,
  };
}
