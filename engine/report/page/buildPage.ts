/**
 * The page of `kiln build --report FILE.html`: the build's totals, its stage graph, its
 * timeline, and every step with its source line, cache verdict, layer and (collapsed) output.
 * Everything comes from the report object embedded in the page; nothing is fetched.
 */
import type { BuildReport, ReportStep } from '../buildReport.js';
import { bytes, duration, figure, h, mountOrExplain, reportData } from './dom.js';
import { stageGraph } from './stageGraph.js';
import { timeline } from './timeline.js';

const STATUSES: ReportStep['status'][] = ['ran', 'cached', 'failed', 'canceled', 'skipped'];

function select(stepId: string): void {
  const el = document.getElementById(`step-${stepId}`) as HTMLDetailsElement | null;
  if (!el) return;
  el.open = true;
  el.scrollIntoView({ block: 'center' });
  el.classList.add('flash');
  setTimeout(() => el.classList.remove('flash'), 1200);
}

function header(r: BuildReport): HTMLElement {
  const t = r.totals;
  const where = `${r.dockerfile}${r.target !== undefined ? ` --target ${r.target}` : ''} in ${r.context}`;
  return h('header', {},
    h('h1', {}, 'kiln build ', h('span', { class: `outcome outcome-${r.outcome}` }, r.outcome)),
    h('p', { class: 'subtitle' }, where, r.tags.length > 0 ? ` → ${r.tags.join(', ')}` : '', ` · started ${new Date(r.startedAt).toLocaleString()}`),
    r.error !== undefined ? h('pre', { class: 'build-error' }, r.error) : null,
    h('div', { class: 'figures' },
      figure('total time', duration(t.durationMs), { 'data-figure': 'duration' }),
      figure('cache hits', `${t.cached} / ${t.cached + t.ran + t.failed + t.canceled}`, { 'data-figure': 'cache-hits' }),
      figure('steps ran', String(t.ran), { 'data-figure': 'ran' }),
      figure('bytes written', bytes(t.bytesWritten), { 'data-figure': 'bytes-written' }),
      figure('image size', t.imageSize !== undefined ? bytes(t.imageSize) : '—', { 'data-figure': 'image-size' }),
      figure('image ID', t.imageId !== undefined ? h('code', { title: t.imageId }, t.imageId.replace(/^sha256:/, '').slice(0, 12)) : '—', { 'data-figure': 'image-id' })));
}

function legend(): HTMLElement {
  return h('div', { class: 'legend' },
    ...STATUSES.map((st) => h('span', { class: `legend-item status-${st}` }, h('span', { class: 'swatch' }), st)),
    h('span', { class: 'legend-item critical' }, h('span', { class: 'swatch' }), 'critical path'),
    ...([['base-image', 'FROM image'], ['base-stage', 'FROM stage'], ['copy-from', 'COPY --from'], ['mount-from', 'RUN --mount from=']] as const)
      .map(([kind, text]) => h('span', { class: `legend-item edge-kind kind-${kind}` }, h('span', { class: 'swatch' }), text)));
}

function stepDetails(r: BuildReport, step: ReportStep): HTMLElement {
  const took = step.started !== undefined && step.finished !== undefined ? duration(step.finished - step.started) : '';
  const size = step.layers.reduce((a, l) => a + l.size, 0);
  const lines = step.output === '' ? 0 : step.output.split('\n').length - (step.output.endsWith('\n') ? 1 : 0);
  const where = step.line !== undefined ? `${r.dockerfile}:${step.line}${step.endLine !== undefined && step.endLine !== step.line ? `-${step.endLine}` : ''}` : 'inherited ONBUILD trigger';
  return h('details', { class: `step status-${step.status}`, id: `step-${step.id}`, 'data-step': step.id },
    h('summary', {},
      h('span', { class: 'badge' }, step.status),
      h('span', { class: 'step-number' }, step.number !== undefined ? `#${step.number}` : ''),
      h('code', { class: 'instruction' }, step.instruction),
      h('span', { class: 'where' }, where),
      h('span', { class: 'took' }, took),
      h('span', { class: 'size' }, step.layers.length > 0 ? bytes(size) : '')),
    h('dl', {},
      h('dt', {}, 'cache'), h('dd', { class: 'verdict' }, step.verdict ?? (step.position === 0 ? 'a FROM is not cached' : step.status === 'skipped' ? 'not reached' : 'not looked up')),
      step.critical ? h('dt', {}, 'critical path') : null, step.critical ? h('dd', {}, 'yes: the build waited on this step') : null,
      step.queued !== undefined && step.started !== undefined ? h('dt', {}, 'timing') : null,
      step.queued !== undefined && step.started !== undefined ? h('dd', {}, `could start at ${duration(step.queued)}, started at ${duration(step.started)}${step.finished !== undefined ? `, done at ${duration(step.finished)}` : ''}`) : null,
      ...step.layers.flatMap((l) => [h('dt', {}, 'layer'), h('dd', {}, h('code', {}, l.diffId), ` ${bytes(l.size)}`)]),
      step.error !== undefined ? h('dt', {}, 'error') : null, step.error !== undefined ? h('dd', { class: 'step-error' }, step.error) : null),
    lines > 0 || step.outputDropped > 0
      ? h('details', { class: 'output' }, h('summary', {}, `output (${lines} line${lines === 1 ? '' : 's'}${step.outputDropped > 0 ? `, the first ${bytes(step.outputDropped)} left out` : ''})`), h('pre', {}, step.output))
      : null);
}

function steps(r: BuildReport): HTMLElement {
  return h('section', { class: 'steps' }, h('h2', {}, 'Steps'),
    ...r.stages.map((st) => h('div', { class: 'stage-steps', 'data-stage': st.index },
      h('h3', {}, `stage ${st.label}`, st.target ? ' (target)' : '', h('span', { class: 'where' }, ` ${r.dockerfile}:${st.line}`)),
      ...r.steps.filter((step) => step.stage === st.index).map((step) => stepDetails(r, step)))));
}

mountOrExplain(() => {
  const r = reportData<BuildReport>();
  return h('main', { class: 'build-report' },
    header(r),
    h('section', { class: 'graph' }, h('h2', {}, 'Stage graph'), legend(), h('div', { class: 'scroll' }, stageGraph(r, select))),
    h('section', { class: 'timeline-section' }, h('h2', {}, 'Timeline'), h('div', { class: 'scroll' }, timeline(r, select))),
    steps(r));
});
