/**
 * The scaling bench's results file (bench/scale-results.json): for every curve, size and tool,
 * the latest measurement with its samples, the load average while it was taken and when. A run
 * of some points merges into it, replacing only those, so the chart and the README's table —
 * both drawn from this file (bench/scaleReport.ts) — always show each point's latest figure,
 * whichever run took it.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { median } from './measure.js';

export const SERIES = ['context', 'length', 'fanout', 'bigfile', 'store'] as const;
export type SeriesName = (typeof SERIES)[number];

/** One measured quantity along a series; `id` is its key in the results file. */
export interface CurveSpec {
  id: string;
  series: SeriesName;
  /** Its name on the chart. */
  name: string;
  /** Its row in the README's table. */
  row: string;
  /** Times are medians of their samples; a peak memory is the largest sample. */
  unit: 'ms' | 'MiB';
}

export const CURVES: readonly CurveSpec[] = [
  { id: 'context/cold', series: 'context', name: 'context, cold', row: 'cold: kiln / docker', unit: 'ms' },
  { id: 'context/noop', series: 'context', name: 'context, no-op rebuild', row: 'no-op: kiln / docker', unit: 'ms' },
  { id: 'length/cold', series: 'length', name: 'length, cold', row: 'cold: kiln / docker', unit: 'ms' },
  { id: 'length/noop', series: 'length', name: 'length, no-op rebuild', row: 'no-op: kiln / docker', unit: 'ms' },
  { id: 'fanout/cold', series: 'fanout', name: 'fan-out, cold', row: 'cold: kiln / docker', unit: 'ms' },
  { id: 'bigfile/copy', series: 'bigfile', name: 'one big file: COPY, cold', row: 'COPY cold: kiln / docker', unit: 'ms' },
  { id: 'bigfile/save', series: 'bigfile', name: 'one big file: save', row: 'save: kiln / docker', unit: 'ms' },
  { id: 'bigfile/load', series: 'bigfile', name: 'one big file: load (a layer it lacks)', row: 'load: kiln / docker', unit: 'ms' },
  { id: 'bigfile/memory', series: 'bigfile', name: 'kiln peak memory (COPY, save, load)', row: "kiln's peak memory", unit: 'MiB' },
  { id: 'store/noop', series: 'store', name: 'store: no-op rebuild (10 RUN recipe)', row: 'no-op rebuild: kiln / docker', unit: 'ms' },
  { id: 'store/images', series: 'store', name: 'store: list images', row: '`images`: kiln / docker', unit: 'ms' },
  { id: 'store/prune', series: 'store', name: 'store: prune (nothing to remove)', row: '`prune` (nothing to remove): kiln / docker', unit: 'ms' },
];

export function curveSpec(id: string): CurveSpec {
  const spec = CURVES.find((c) => c.id === id);
  if (spec === undefined) throw new Error(`unknown curve ${id} in the scaling bench's results`);
  return spec;
}

/** One tool's figure for one point, and the circumstances it was taken in. */
export interface Measurement {
  /** The median of the samples (ms), or their largest (MiB). */
  value: number;
  samples: number[];
  /** The lowest and highest 1-minute load average read as each sample started. */
  load: [number, number];
  /** When the last sample ended (ISO 8601, UTC, to the minute). */
  date: string;
  /** kiln's: the commit of the checkout that was measured (`git describe --always --dirty`), where it is one. */
  code?: string;
}

/** curve id → size (as a decimal string: files, instructions, stages, bytes, images) → tool → measurement. */
export type ScaleResults = Record<string, Record<string, Record<string, Measurement>>>;

/** A fresh run's points replace the same points (curve, size and tool) of the file; the rest stay. */
export function mergeResults(kept: ScaleResults, fresh: ScaleResults): ScaleResults {
  const out: ScaleResults = structuredClone(kept);
  for (const [curve, sizes] of Object.entries(fresh)) {
    const into = (out[curve] ??= {});
    for (const [size, tools] of Object.entries(sizes)) into[size] = { ...(into[size] ?? {}), ...structuredClone(tools) };
  }
  return out;
}

const TOOL_ORDER = ['kiln', 'docker'];

function byToolOrder(a: string, b: string): number {
  const rank = (t: string): number => (TOOL_ORDER.includes(t) ? TOOL_ORDER.indexOf(t) : TOOL_ORDER.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** The same results in one order (curves as CURVES lists them, sizes ascending, kiln first): a stable file, small diffs. */
export function orderedResults(r: ScaleResults): ScaleResults {
  const out: ScaleResults = {};
  const curveIds = Object.keys(r).sort((a, b) => CURVES.findIndex((c) => c.id === a) - CURVES.findIndex((c) => c.id === b));
  for (const id of curveIds) {
    const sizes = r[id] as Record<string, Record<string, Measurement>>;
    const sizesOut: Record<string, Record<string, Measurement>> = {};
    for (const size of Object.keys(sizes).sort((a, b) => Number(a) - Number(b))) {
      const tools = sizes[size] as Record<string, Measurement>;
      sizesOut[size] = Object.fromEntries(Object.keys(tools).sort(byToolOrder).map((t) => [t, tools[t] as Measurement]));
    }
    out[id] = sizesOut;
  }
  return out;
}

/** What makes a measurement, as a sample at a time is taken. */
export interface Sample {
  value: number;
  load: number;
  at: Date;
}

export function measurementOf(unit: CurveSpec['unit'], samples: Sample[], code?: string): Measurement {
  const values = samples.map((s) => s.value);
  const loads = samples.map((s) => s.load);
  const last = samples.reduce((a, s) => (s.at > a ? s.at : a), samples[0]?.at ?? new Date(0));
  return {
    value: round(unit === 'MiB' ? Math.max(...values) : (median(values) as number)),
    samples: values.map(round),
    load: [round(Math.min(...loads)), round(Math.max(...loads))],
    date: `${last.toISOString().slice(0, 16)}Z`,
    ...(code !== undefined ? { code } : {}),
  };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** The results file, checked for curves the bench knows; a missing file is no results yet. */
export function readResults(file: string): ScaleResults {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const r = JSON.parse(text) as ScaleResults;
  for (const id of Object.keys(r)) curveSpec(id);
  return r;
}

/** JSON, one measurement a line. */
export function serializeResults(r: ScaleResults): string {
  const curves = Object.entries(orderedResults(r)).map(([id, sizes]) => {
    const sizeLines = Object.entries(sizes).map(([size, tools]) => {
      const toolLines = Object.entries(tools).map(([tool, m]) => `      ${JSON.stringify(tool)}: ${JSON.stringify(m)}`);
      return `    ${JSON.stringify(size)}: {\n${toolLines.join(',\n')}\n    }`;
    });
    return `  ${JSON.stringify(id)}: {\n${sizeLines.join(',\n')}\n  }`;
  });
  return curves.length === 0 ? '{}\n' : `{\n${curves.join(',\n')}\n}\n`;
}

/** Written whole or not at all: a bench killed mid-write must not lose the points of earlier runs. */
export function writeResults(file: string, r: ScaleResults): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeResults(r));
  renameSync(tmp, file);
}
