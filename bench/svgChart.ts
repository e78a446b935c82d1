/**
 * Line charts as one SVG file, for the README: a grid of panels, each with logarithmic axes (so
 * linear growth is a straight line of slope one, drawn dashed from the first point of the first
 * series for comparison) and one line per series.
 */

export interface ChartPoint { x: number; y: number }

export interface ChartSeries {
  label: string;
  color: string;
  dashed?: boolean;
  points: ChartPoint[];
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  /** How values on the y axis are written (e.g. as times or sizes). */
  yFormat: (v: number) => string;
  xFormat: (v: number) => string;
  /** Where the x axis is marked (the sizes measured, say); round numbers when absent. */
  xTicks?: number[];
  series: ChartSeries[];
}

const PANEL_W = 420;
const PANEL_H = 280;
const MARGIN = { left: 62, right: 14, top: 34, bottom: 72 };

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tick values over [lo, hi] on a log axis: powers of ten, with 2 and 5 between when few. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const steps = Math.log10(hi / lo) < 2 ? [1, 2, 5] : [1];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const m of steps) {
      const v = m * 10 ** p;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function bounds(values: number[]): [number, number] {
  const positive = values.filter((v) => v > 0);
  if (positive.length === 0) return [1, 10];
  let lo = Math.min(...positive);
  let hi = Math.max(...positive);
  if (hi / lo < 10) {
    const mid = Math.sqrt(lo * hi);
    lo = mid / Math.sqrt(10);
    hi = mid * Math.sqrt(10);
  }
  return [lo / 1.15, hi * 1.15];
}

function panelSvg(p: ChartPanel, ox: number, oy: number): string {
  const all = p.series.flatMap((s) => s.points).filter((pt) => pt.x > 0 && pt.y > 0);
  const [x0, x1] = bounds(all.map((pt) => pt.x));
  const first = p.series[0]?.points.find((pt) => pt.x > 0 && pt.y > 0);
  // The linear reference runs from the first point to the widest x: keep it inside the y range.
  const yValues = all.map((pt) => pt.y);
  if (first) yValues.push(first.y * (x1 / 1.15 / first.x));
  const [y0, y1] = bounds(yValues);
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => ox + MARGIN.left + (Math.log(x / x0) / Math.log(x1 / x0)) * w;
  const sy = (y: number): number => oy + MARGIN.top + h - (Math.log(y / y0) / Math.log(y1 / y0)) * h;
  const out: string[] = [];
  out.push(`<text x="${ox + MARGIN.left}" y="${oy + 20}" class="title">${escapeXml(p.title)}</text>`);
  out.push(`<rect x="${ox + MARGIN.left}" y="${oy + MARGIN.top}" width="${w}" height="${h}" class="frame"/>`);
  for (const t of p.xTicks ?? logTicks(x0, x1)) {
    out.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${oy + MARGIN.top}" y2="${oy + MARGIN.top + h}" class="grid"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${oy + MARGIN.top + h + 15}" class="tick" text-anchor="middle">${escapeXml(p.xFormat(t))}</text>`);
  }
  for (const t of logTicks(y0, y1)) {
    out.push(`<line x1="${ox + MARGIN.left}" x2="${ox + MARGIN.left + w}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>`);
    out.push(`<text x="${ox + MARGIN.left - 5}" y="${(sy(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${escapeXml(p.yFormat(t))}</text>`);
  }
  out.push(`<text x="${ox + MARGIN.left + w / 2}" y="${oy + MARGIN.top + h + 32}" class="axis" text-anchor="middle">${escapeXml(p.xLabel)}</text>`);
  if (first) {
    const end = x1 / 1.15;
    out.push(`<line x1="${sx(first.x).toFixed(1)}" y1="${sy(first.y).toFixed(1)}" x2="${sx(end).toFixed(1)}" y2="${sy(first.y * (end / first.x)).toFixed(1)}" class="linear"/>`);
  }
  let legendX = ox + MARGIN.left;
  let legendY = oy + PANEL_H - 22;
  for (const s of p.series) {
    const width = 26 + s.label.length * 6.2;
    if (legendX + width > ox + PANEL_W && legendX > ox + MARGIN.left) {
      legendX = ox + MARGIN.left;
      legendY += 14;
    }
    const pts = s.points.filter((pt) => pt.x > 0 && pt.y > 0).sort((a, b) => a.x - b.x);
    if (pts.length > 0) {
      const d = pts.map((pt, i) => `${i === 0 ? 'M' : 'L'}${sx(pt.x).toFixed(1)},${sy(pt.y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" stroke="${s.color}" class="line${s.dashed ? ' dashed' : ''}"/>`);
      for (const pt of pts) out.push(`<circle cx="${sx(pt.x).toFixed(1)}" cy="${sy(pt.y).toFixed(1)}" r="2.6" fill="${s.color}"/>`);
    }
    out.push(`<line x1="${legendX}" x2="${legendX + 16}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${s.color}" class="line${s.dashed ? ' dashed' : ''}"/>`);
    out.push(`<text x="${legendX + 20}" y="${legendY}" class="legend">${escapeXml(s.label)}</text>`);
    legendX += width;
  }
  return out.join('\n');
}

/** The whole chart: panels left to right, `columns` per row, with a caption line on top. */
export function renderChart(caption: string, panels: ChartPanel[], columns = 2): string {
  const rows = Math.ceil(panels.length / columns);
  const width = columns * PANEL_W;
  const height = rows * PANEL_H + 30;
  const body = panels.map((p, i) => panelSvg(p, (i % columns) * PANEL_W, 30 + Math.floor(i / columns) * PANEL_H)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<style>
.title { font-size: 13px; font-weight: bold; fill: #222 }
.tick { font-size: 10px; fill: #555 }
.axis, .legend { font-size: 11px; fill: #333 }
.frame { fill: none; stroke: #999 }
.grid { stroke: #e4e4e4 }
.line { fill: none; stroke-width: 2 }
.dashed { stroke-dasharray: 5 3 }
.linear { stroke: #bbb; stroke-dasharray: 2 3 }
</style>
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="20" class="axis">${escapeXml(caption)}</text>
${body}
</svg>
`;
}
