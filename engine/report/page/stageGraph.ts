/*! The stage graph is laid out by @dagrejs/dagre and @dagrejs/graphlib, bundled into this page:
 * Copyright (c) 2012-2014 Chris Pettitt, MIT License. */
/**
 * The stage graph of a build report: stages as boxes holding their steps, images and named
 * contexts as sources, edges for step order, FROM stage, COPY --from and RUN --mount from=.
 * dagre places everything (a layered layout, the usual one for build graphs); this file only
 * draws what it computed, as SVG.
 */
import { Graph, layout } from '@dagrejs/dagre';
import type { BuildReport, ReportStep } from '../buildReport.js';
import { duration, s } from './dom.js';

const NODE_W = 270;
const NODE_H = 42;
const SOURCE_H = 32;
const MAX_CHARS = 36;

interface NodeBox { x: number; y: number; width: number; height: number }
interface EdgeLabel { kind: string; points?: { x: number; y: number }[] }

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function stepCaption(step: ReportStep): string {
  const where = step.line !== undefined ? `line ${step.line}` : 'ONBUILD';
  const took = step.started !== undefined && step.finished !== undefined ? ` · ${duration(step.finished - step.started)}` : '';
  return `${where} · ${step.status}${took}`;
}

export function stageGraph(report: BuildReport, onSelect: (stepId: string) => void): SVGSVGElement {
  const g = new Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 34, edgesep: 12, marginx: 20, marginy: 28 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const st of report.stages) g.setNode(`stage:${st.index}`, {});
  for (const src of report.sources) g.setNode(src.id, { width: Math.min(NODE_W, 60 + src.ref.length * 7), height: SOURCE_H });
  for (const step of report.steps) {
    g.setNode(step.id, { width: NODE_W, height: NODE_H });
    g.setParent(step.id, `stage:${step.stage}`);
  }
  report.edges.forEach((e, i) => g.setEdge(e.from, e.to, { kind: e.kind }, `e${i}`));
  layout(g);

  const box = (id: string): NodeBox => g.node(id) as unknown as NodeBox;
  const size = g.graph() as { width?: number; height?: number };
  const width = Math.ceil(size.width ?? 400);
  const height = Math.ceil(size.height ?? 200);
  const svg = s('svg', { class: 'stage-graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Stage graph' });
  svg.append(s('defs', {}, ...['order', 'base-stage', 'base-image', 'copy-from', 'mount-from'].map((kind) =>
    s('marker', { id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `arrow arrow-${kind}` })))));

  for (const st of report.stages) {
    const b = box(`stage:${st.index}`);
    const x = b.x - b.width / 2;
    const y = b.y - b.height / 2;
    const title = `stage ${st.label}${st.target ? ' (target)' : ''}`;
    svg.append(s('g', { class: `stage-node${st.target ? ' target' : ''}`, 'data-stage': st.index },
      s('rect', { x, y, width: b.width, height: b.height, rx: 8 }),
      s('text', { x: x + 10, y: y + 15, class: 'stage-label' }, title)));
  }
  for (const src of report.sources) {
    const b = box(src.id);
    svg.append(s('g', { class: `source-node source-${src.kind}`, 'data-source': src.ref },
      s('title', {}, `${src.kind === 'image' ? 'image' : 'named context'} ${src.ref}`),
      s('rect', { x: b.x - b.width / 2, y: b.y - b.height / 2, width: b.width, height: b.height, rx: SOURCE_H / 2 }),
      s('text', { x: b.x, y: b.y + 4, 'text-anchor': 'middle' }, clip(src.ref, Math.floor((b.width - 20) / 7)))));
  }
  for (const id of g.edges()) {
    const label = g.edge(id) as unknown as EdgeLabel;
    const pts = label.points ?? [];
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: `edge edge-${label.kind}`, 'data-kind': label.kind, 'marker-end': `url(#arrow-${label.kind})` }));
  }
  for (const step of report.steps) {
    const b = box(step.id);
    const x = b.x - b.width / 2;
    const y = b.y - b.height / 2;
    const node = s('g', { class: `step-node status-${step.status}${step.critical ? ' critical' : ''}`, 'data-step': step.id, 'data-status': step.status, tabindex: 0 },
      s('title', {}, `${step.instruction}\n${stepCaption(step)}${step.verdict ? `\n${step.verdict}` : ''}${step.critical ? '\non the critical path' : ''}`),
      step.critical ? s('rect', { x: x - 4, y: y - 4, width: b.width + 8, height: b.height + 8, rx: 9, class: 'critical-halo' }) : null,
      s('rect', { x, y, width: b.width, height: b.height, rx: 6, class: 'step-box' }),
      s('rect', { x, y, width: 6, height: b.height, rx: 2, class: 'step-status-bar' }),
      s('text', { x: x + 14, y: y + 17, class: 'step-text' }, clip(step.instruction, MAX_CHARS)),
      s('text', { x: x + 14, y: y + 33, class: 'step-caption' }, stepCaption(step)));
    node.addEventListener('click', () => onSelect(step.id));
    node.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onSelect(step.id); });
    svg.append(node);
  }
  return svg;
}
