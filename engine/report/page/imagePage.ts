/**
 * The page of `kiln image report IMAGE -o FILE.html`: dive's figures for the image (efficiency,
 * wasted bytes), the CI rules' verdicts, every layer with what it adds, changes and removes,
 * a browsable tree of the selected layer, and the paths that waste space.
 */
import type { ImageReport, LayerSummary } from '../imageReport.js';
import { bytes, figure, h, mountOrExplain, reportData } from './dom.js';
import { fileTree } from './fileTree.js';

function header(r: ImageReport): HTMLElement {
  const failed = r.rules.some((x) => x.result === 'fail');
  return h('header', {},
    h('h1', {}, 'kiln image report', r.rules.length > 0 ? h('span', { class: `outcome outcome-${failed ? 'failed' : 'succeeded'}` }, failed ? 'fails its rules' : 'passes its rules') : null),
    h('p', { class: 'subtitle' }, r.image.tags.join(', ') || '(untagged)', ' · ', h('code', {}, r.image.id), r.image.os ? ` · ${r.image.os}/${r.image.architecture ?? ''}` : ''),
    h('div', { class: 'figures' },
      figure('efficiency (as dive computes it)', `${(r.efficiency * 100).toFixed(2)} %`, { 'data-figure': 'efficiency', 'data-value': String(r.efficiency) }),
      figure('wasted space', bytes(r.wastedBytes), { 'data-figure': 'wasted', 'data-value': String(r.wastedBytes), title: `${r.wastedBytes} bytes` }),
      figure('wasted of what the image adds', `${(r.wastedUserPercent * 100).toFixed(2)} %`, { 'data-figure': 'wasted-user-percent' }),
      figure('image content', bytes(r.sizeBytes), { 'data-figure': 'size' }),
      figure('layers', String(r.layers.length), { 'data-figure': 'layers' }),
      figure('files', String(r.files), { 'data-figure': 'files' })),
    r.rules.length > 0 ? h('ul', { class: 'rules' }, ...r.rules.map((x) => h('li', { class: `rule-${x.result}` }, `${x.result.toUpperCase()} ${x.rule}: ${x.message}`))) : null);
}

function layerTable(r: ImageReport, onSelect: (l: LayerSummary, tr: HTMLElement) => void): HTMLElement {
  const counts = (c: { files: number; bytes: number }): string => (c.files === 0 ? '' : `${c.files} · ${bytes(c.bytes)}`);
  const rows = r.layers.map((l) => {
    const tr = h('tr', { class: 'layer', 'data-layer': l.index, tabindex: 0 },
      h('td', { class: 'num' }, String(l.index)),
      h('td', { class: 'num' }, bytes(l.contentSize)),
      h('td', { class: 'num' }, counts(l.added)),
      h('td', { class: 'num' }, counts(l.changed)),
      h('td', { class: 'num' }, counts(l.removed)),
      h('td', { class: 'num', 'data-wasted-later': l.wastedLater }, l.wastedLater > 0 ? bytes(l.wastedLater) : ''),
      h('td', { class: 'created-by' }, l.createdBy));
    tr.addEventListener('click', () => onSelect(l, tr));
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onSelect(l, tr); });
    return tr;
  });
  return h('table', { class: 'layers' },
    h('thead', {}, h('tr', {}, ...['#', 'size', 'added', 'changed', 'removed', 'wasted by later layers', 'created by'].map((t, i) => h('th', { class: i < 6 ? 'num' : '' }, t)))),
    h('tbody', {}, ...rows));
}

function inefficiencies(r: ImageReport): HTMLElement {
  const shown = r.inefficiencies.filter((i) => i.bytes > 0).slice(0, 200);
  if (shown.length === 0) return h('p', { class: 'subtitle' }, 'No file is written by one layer and overwritten or removed by another.');
  return h('table', { class: 'wasted' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'count'), h('th', { class: 'num' }, 'wasted'), h('th', {}, 'path'), h('th', {}, 'layers'))),
    h('tbody', {}, ...shown.map((i) => h('tr', { 'data-path': i.path },
      h('td', { class: 'num' }, String(i.layers.length)), h('td', { class: 'num' }, bytes(i.bytes)), h('td', { class: 'mono' }, i.path), h('td', {}, i.layers.join(', '))))));
}

mountOrExplain(() => {
  const r = reportData<ImageReport>();
  const panel = h('div', { class: 'tree-panel' });
  let selected: HTMLElement | undefined;
  const select = (l: LayerSummary, tr: HTMLElement): void => {
    selected?.classList.remove('selected');
    tr.classList.add('selected');
    selected = tr;
    panel.replaceChildren(
      h('div', { class: 'tree-tools' }, h('strong', {}, `layer ${l.index}`), h('span', { class: 'subtitle' }, `${l.entries.length} entries · ${l.diffId}`)),
      fileTree(l.entries));
  };
  const table = layerTable(r, select);
  const first = table.querySelector('tr.layer') as HTMLElement | null;
  const firstLayer = r.layers[0];
  if (first && firstLayer) select(firstLayer, first);
  return h('main', { class: 'image-report' },
    header(r),
    h('section', {}, h('h2', {}, 'Layers'), h('p', { class: 'subtitle' }, 'Select a layer to browse the files it adds, changes and removes.'), table, panel),
    h('section', {}, h('h2', {}, 'Space wasted'), h('p', { class: 'subtitle' }, 'Paths more than one layer writes or removes; dive counts every copy as wasted.'), inefficiencies(r)));
});
