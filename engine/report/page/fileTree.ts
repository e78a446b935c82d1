/**
 * A layer's entries as a tree to browse: directories open on click and their rows are made
 * only then, so a layer of tens of thousands of files draws at once. Directory sizes add up
 * what the layer holds under them.
 */
import type { EntryChange, LayerEntry } from '../imageReport.js';
import { bytes, h } from './dom.js';

interface TreeNode {
  name: string;
  path: string;
  entry?: LayerEntry;
  children?: Map<string, TreeNode>;
  /** Bytes of the entries at and under this node. */
  size: number;
  files: number;
}

const CHANGE_TEXT: Record<EntryChange, string> = { a: 'added', c: 'changed', u: '', r: 'removed', o: 'emptied' };

function dirNode(name: string, path: string): TreeNode {
  return { name, path, children: new Map(), size: 0, files: 0 };
}

export function buildTree(entries: readonly LayerEntry[]): TreeNode {
  const root = dirNode('/', '');
  for (const entry of entries) {
    const names = entry[0].split('/');
    let node = root;
    node.size += entry[2];
    node.files++;
    names.forEach((name, i) => {
      node.children ??= new Map();
      let child = node.children.get(name);
      if (!child) {
        child = i === names.length - 1 && entry[1] !== 'd' ? { name, path: entry[0], size: 0, files: 0 } : dirNode(name, names.slice(0, i + 1).join('/'));
        node.children.set(name, child);
      }
      child.size += entry[2];
      child.files++;
      if (i === names.length - 1) child.entry = entry;
      node = child;
    });
  }
  return root;
}

function sorted(node: TreeNode): TreeNode[] {
  return [...(node.children?.values() ?? [])].sort((a, b) => Number(!a.children) - Number(!b.children) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function row(node: TreeNode): HTMLLIElement {
  const entry = node.entry;
  const change = entry?.[3];
  const isDir = node.children !== undefined;
  const twisty = h('span', { class: 'twisty' }, isDir && (node.children?.size ?? 0) > 0 ? '▸' : '');
  const li = h('li', { 'data-path': node.path },
    h('div', { class: `row${change ? ` change-${change}` : ''}`, 'data-change': change ?? '' },
      twisty,
      h('span', { class: 'name' }, `${node.name}${isDir ? '/' : ''}`, entry?.[4] !== undefined ? h('span', { class: 'link' }, ` → ${entry[4]}`) : null),
      h('span', { class: 'change' }, change ? CHANGE_TEXT[change] : ''),
      h('span', { class: 'size' }, isDir ? `${bytes(node.size)}` : bytes(entry?.[2] ?? 0))));
  if (isDir && (node.children?.size ?? 0) > 0) {
    let list: HTMLUListElement | undefined;
    const toggle = (): void => {
      if (!list) {
        list = h('ul', {}, ...sorted(node).map(row));
        li.append(list);
      } else {
        list.hidden = !list.hidden;
      }
      twisty.textContent = list.hidden ? '▸' : '▾';
    };
    (li.firstChild as HTMLElement).addEventListener('click', toggle);
  }
  return li;
}

/** The tree's first level, ready to open. */
export function fileTree(entries: readonly LayerEntry[]): HTMLElement {
  const root = buildTree(entries);
  return h('div', { class: 'tree', role: 'tree' }, h('ul', {}, ...sorted(root).map(row)));
}
