/**
 * The build's timeline: one row per step that began, a bar from when it could start (its
 * inputs were done; the pale part is time spent waiting for a free job) to when it finished,
 * coloured by how it ended. Steps side by side in time ran in parallel; the critical path —
 * the chain that decided when the build ended — is outlined.
 */
import type { BuildReport, ReportStep } from '../buildReport.js';
import { duration, s } from './dom.js';

const LABEL_W = 300;
const CHART_W = 760;
const ROW_H = 22;
const AXIS_H = 26;

function niceStep(total: number): number {
  const rough = total / 8;
  const pow = 10 ** Math.floor(Math.log10(Math.max(rough, 1)));
  return [1, 2, 5, 10].map((m) => m * pow).find((v) => v >= rough) ?? pow * 10;
}

export function timeline(report: BuildReport, onSelect: (stepId: string) => void): SVGSVGElement {
  const rows = report.steps
    .filter((st): st is ReportStep & { started: number } => st.started !== undefined)
    .sort((a, b) => a.started - b.started || (a.number ?? 0) - (b.number ?? 0));
  const end = Math.max(1, ...rows.map((r) => r.finished ?? r.started));
  const scale = CHART_W / end;
  const height = AXIS_H + rows.length * ROW_H + 8;
  const width = LABEL_W + CHART_W + 90;
  const svg = s('svg', { class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Timeline' });
  const tick = niceStep(end);
  for (let t = 0; t <= end; t += tick) {
    const x = LABEL_W + t * scale;
    svg.append(s('line', { x1: x, x2: x, y1: AXIS_H - 6, y2: height, class: 'tick' }), s('text', { x, y: AXIS_H - 10, class: 'tick-label', 'text-anchor': 'middle' }, duration(t)));
  }
  rows.forEach((step, i) => {
    const y = AXIS_H + i * ROW_H;
    const queued = step.queued ?? step.started;
    const finished = step.finished ?? end;
    const label = `${step.number !== undefined ? `#${step.number} ` : ''}${step.instruction.replace(/\s+/g, ' ')}`;
    const row = s('g', { class: `timeline-row status-${step.status}${step.critical ? ' critical' : ''}`, 'data-step': step.id, 'data-status': step.status, 'data-queued': queued, 'data-start': step.started, 'data-end': finished });
    row.append(s('title', {}, `${step.instruction}\nwaited ${duration(step.started - queued)}, took ${duration(finished - step.started)}${step.critical ? '\non the critical path' : ''}`));
    row.append(s('text', { x: 6, y: y + 15, class: 'timeline-label' }, label.length > 44 ? `${label.slice(0, 43)}…` : label));
    if (step.started > queued) row.append(s('rect', { x: LABEL_W + queued * scale, y: y + 5, width: (step.started - queued) * scale, height: ROW_H - 10, class: 'wait' }));
    row.append(s('rect', { x: LABEL_W + step.started * scale, y: y + 3, width: Math.max(2, (finished - step.started) * scale), height: ROW_H - 6, rx: 2, class: 'bar' }));
    row.append(s('text', { x: LABEL_W + finished * scale + 6, y: y + 15, class: 'bar-label' }, `${duration(finished - step.started)}${step.critical ? ' ◆' : ''}`));
    row.addEventListener('click', () => onSelect(step.id));
    svg.append(row);
  });
  return svg;
}
