/** The few DOM helpers both report pages build their elements with (no framework: one file, no network). */

export type Child = Node | string | number | false | null | undefined;

function append(parent: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    parent.append(typeof c === 'number' ? String(c) : c);
  }
}

/** An HTML element: attributes as strings (class, data-*, title…), then children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  append(e, children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  append(e, children);
  return e;
}

/** The report object the page was written with. */
export function reportData<T>(): T {
  const el = document.getElementById('kiln-report');
  if (!el || el.textContent === null) throw new Error('the page holds no report data');
  return JSON.parse(el.textContent) as T;
}

/** 4.26 MB, 832 B: decimal units with three significant digits, as kiln images prints sizes. */
export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))} ${units[i]}`;
}

/** 12 ms, 1.40 s, 2m 05s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** A summary figure: a label and its value. */
export function figure(label: string, value: Child, attrs: Record<string, string> = {}): HTMLElement {
  return h('div', { class: 'figure', ...attrs }, h('div', { class: 'figure-value' }, value), h('div', { class: 'figure-label' }, label));
}

/** Shows an error in the page itself (a report that cannot be drawn says why). */
export function mountOrExplain(draw: () => Node): void {
  const app = document.getElementById('app') as HTMLElement;
  try {
    app.replaceChildren(draw());
  } catch (e) {
    app.replaceChildren(h('p', { class: 'page-error' }, `This report could not be drawn: ${(e as Error).message}`));
    throw e;
  }
}
