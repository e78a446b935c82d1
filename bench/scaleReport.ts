/**
 * What the scaling bench's results file (bench/scaleResults.ts) is drawn as: the chart
 * (bench/scale.svg) and the README's table, both from the same merged results, so the picture,
 * the table and the measurements cannot disagree (a unit test holds the committed three equal).
 */
import { renderChart, type ChartPanel, type ChartSeries } from './svgChart.js';
import { CURVES, SERIES, type CurveSpec, type Measurement, type ScaleResults, type SeriesName } from './scaleResults.js';

const MiB = 1024 * 1024;

export function formatSize(series: SeriesName, v: number): string {
  if (series === 'bigfile') return v >= 1024 * MiB ? `${+(v / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(v / MiB)} MiB`;
  return v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(v);
}

/** Three significant figures: 576 ms, 8.40 s, 54.1 s, 541 s. */
export function formatTime(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toPrecision(3)} s` : `${Math.round(ms)} ms`;
}

function formatValue(unit: CurveSpec['unit'], v: number | undefined): string {
  if (v === undefined) return 'n/a';
  return unit === 'MiB' ? `${Math.round(v)} MiB` : formatTime(v);
}

const SERIES_ROW: Record<SeriesName, string> = {
  context: 'context files',
  length: 'Dockerfile instructions',
  fanout: 'independent stages',
  bigfile: 'one file',
  store: 'images in the store (cache records ×10)',
};

const X_LABEL: Record<SeriesName, string> = {
  context: 'files in the context', length: 'instructions', fanout: 'independent stages', bigfile: 'file size', store: 'images (cache records: ×10)',
};

function curvesOf(r: ScaleResults, series: SeriesName): CurveSpec[] {
  return CURVES.filter((c) => c.series === series && r[c.id] !== undefined);
}

function sizesOf(r: ScaleResults, series: SeriesName): number[] {
  const sizes = new Set<number>();
  for (const c of curvesOf(r, series)) for (const s of Object.keys(r[c.id] ?? {})) sizes.add(Number(s));
  return [...sizes].sort((a, b) => a - b);
}

function toolsAt(r: ScaleResults, curve: string, size: number): Record<string, Measurement> {
  return r[curve]?.[String(size)] ?? {};
}

function formatLoad(v: number): string {
  return v >= 10 ? String(Math.round(v)) : v.toFixed(1);
}

/** `1.9–3.4`: the lowest and highest load average the measurements were taken at. */
function loadSpan(ms: Measurement[]): string {
  const lo = formatLoad(Math.min(...ms.map((m) => m.load[0])));
  const hi = formatLoad(Math.max(...ms.map((m) => m.load[1])));
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** The latest time among `ms`, as `2026-12-07 14:02` (UTC). */
function latest(ms: Measurement[]): string {
  return ms.map((m) => m.date).sort().pop()?.replace('T', ' ').replace(/Z$/, '') ?? '';
}

const HOUR = 3_600_000;

/**
 * `load 1.9–3.4 · 2026-12-07 14:02`: the circumstances of the tools' figures of one point (the
 * latest time of them, or each tool's when they come from different runs).
 */
function circumstances(tools: Record<string, Measurement>): string {
  const ms = Object.values(tools);
  const times = ms.map((m) => Date.parse(m.date));
  const apart = Math.max(...times) - Math.min(...times) > HOUR;
  const when = apart ? Object.entries(tools).map(([tool, m]) => `${tool} ${latest([m])}`).join(', ') : latest(ms);
  return `load ${loadSpan(ms)} · ${when}`;
}

function cell(spec: CurveSpec, tools: Record<string, Measurement>): string {
  if (Object.keys(tools).length === 0) return '';
  const kiln = tools.kiln?.value;
  if (spec.unit === 'MiB') return `${formatValue(spec.unit, kiln)}<br>${circumstances(tools)}`;
  const docker = tools.docker?.value;
  const ratio = kiln !== undefined && docker !== undefined && docker > 0 ? `${(kiln / docker).toFixed(2)}× · ` : '';
  return `${formatValue(spec.unit, kiln)} / ${formatValue(spec.unit, docker)}<br>${ratio}${circumstances(tools)}`;
}

/**
 * The README's table: per series a row of sizes, then per curve kiln's figure / docker's, their
 * ratio, the load average while they were measured and the day.
 */
export function renderTable(r: ScaleResults): string {
  const present = SERIES.filter((s) => curvesOf(r, s).length > 0);
  const columns = Math.max(1, ...present.map((s) => sizesOf(r, s).length));
  const pad = (cells: string[]): string => `| ${[...cells, ...Array<string>(columns + 1 - cells.length).fill('')].join(' | ')} |`.replace(/ {2}\|/g, ' |');
  const lines = [pad(['series']), `|${' --- |'.repeat(columns + 1)}`];
  for (const series of present) {
    const sizes = sizesOf(r, series);
    lines.push(pad([`**${SERIES_ROW[series]}**`, ...sizes.map((s) => `**${formatSize(series, s)}**`)]));
    for (const spec of curvesOf(r, series)) lines.push(pad([spec.row, ...sizes.map((s) => cell(spec, toolsAt(r, spec.id, s)))]));
  }
  return lines.join('\n');
}

const COLORS: Record<string, string> = { kiln: '#c0392b', docker: '#2471a3' };

function chartSeries(r: ScaleResults, spec: CurveSpec, tool: string, dashed: boolean, label: string): ChartSeries {
  const points = Object.entries(r[spec.id] ?? {}).flatMap(([size, tools]) => (tools[tool] ? [{ x: Number(size), y: (tools[tool] as Measurement).value }] : []));
  return { label, color: COLORS[tool] ?? '#555', dashed, points };
}

function toolsOf(r: ScaleResults, spec: CurveSpec): string[] {
  const tools = new Set<string>();
  for (const t of Object.values(r[spec.id] ?? {})) for (const name of Object.keys(t)) tools.add(name);
  return [...tools].sort((a, b) => (a === 'kiln' ? -1 : b === 'kiln' ? 1 : a.localeCompare(b)));
}

/** Axis ticks are round numbers: 500 ms, 2 s, 10 s. */
function axisTime(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toPrecision(3)} s` : `${+ms.toPrecision(3)} ms`;
}

function panels(r: ScaleResults, series: SeriesName): ChartPanel[] {
  const specs = curvesOf(r, series);
  const time = specs.filter((c) => c.unit === 'ms');
  const xFormat = (v: number): string => formatSize(series, v);
  const xTicks = sizesOf(r, series);
  // A series' cold and no-op curves share a panel; the big file's and the store's each get one.
  const groups = series === 'store' || series === 'bigfile' ? time.map((c) => [c]) : [time];
  const out: ChartPanel[] = groups.filter((g) => g.length > 0).map((group) => ({
    title: group.length > 1 ? series : (group[0] as CurveSpec).name,
    xLabel: X_LABEL[series],
    xFormat,
    xTicks,
    yFormat: axisTime,
    series: group.flatMap((spec, i) => toolsOf(r, spec).map((tool) => chartSeries(r, spec, tool, i > 0, group.length > 1 ? `${tool} ${spec.name.split(', ')[1] ?? ''}` : tool))),
  }));
  for (const spec of specs.filter((c) => c.unit === 'MiB')) {
    out.push({ title: spec.name, xLabel: X_LABEL[series], xFormat, xTicks, yFormat: (v) => `${Math.round(v)} MiB`, series: [chartSeries(r, spec, 'kiln', false, 'kiln')] });
  }
  return out;
}

/** The chart of every curve in the results, captioned with the span of days and loads it was measured over. */
export function renderResultsChart(r: ScaleResults): string {
  const all = Object.values(r).flatMap((sizes) => Object.values(sizes).flatMap((tools) => Object.values(tools)));
  const first = all.map((m) => m.date).sort()[0]?.slice(0, 10);
  const last = latest(all).slice(0, 10);
  const caption = all.length === 0
    ? 'kiln and docker BuildKit: no measurements yet'
    : `kiln (red) and docker BuildKit (blue), each point its latest measurement (bench/scale-results.json), ${first === last ? `on ${last}` : `${first} to ${last}`}, at load average ${loadSpan(all)}`;
  return renderChart(caption, SERIES.flatMap((s) => panels(r, s)));
}

export const TABLE_START = '<!-- scale table: generated from bench/scale-results.json by `node dist/bench/run.js --scale --render`; do not edit by hand -->';
export const TABLE_END = '<!-- end of the scale table -->';

/** `readme` with the text between the table's markers replaced by `table`; an error without the markers. */
export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`the README has no scale table markers (${TABLE_START} … ${TABLE_END})`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

/** The table as it stands between the README's markers, or undefined without them. */
export function tableIn(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + TABLE_START.length, end).trim();
}
