/**
 * A live view in the manner of BuildKit's tty display: a header with the elapsed time and
 * how many steps are finished, one line per step with its timer, the last few lines of
 * output under each running step, finished steps collapsed to one line. The frame is
 * redrawn in place, at most every REDRAW_MS, so a chatty step cannot flood the terminal.
 */
import type { Writable } from 'node:stream';
import { LineSplitter, warningSummary, type BuildWarning, type ProgressEvent, type ProgressSink, type StepRef } from './events.js';
import { seconds } from './plain.js';

const REDRAW_MS = 100;
/** Output lines shown under a running (or failed) step. */
const TAIL_LINES = 6;

type Status = 'running' | 'done' | 'cached' | 'error';

interface StepView {
  ref: StepRef;
  status: Status;
  startedAt: number;
  endedAt?: number;
  tail: string[];
  notes: string[];
  warnings: BuildWarning[];
  lines: LineSplitter;
  error?: string;
}

const ESC = '\x1b[';
const colour = {
  dim: (s: string) => `${ESC}2m${s}${ESC}0m`,
  blue: (s: string) => `${ESC}34m${s}${ESC}0m`,
  red: (s: string) => `${ESC}31m${s}${ESC}0m`,
  yellow: (s: string) => `${ESC}33m${s}${ESC}0m`,
};

export interface TtyOptions {
  /** Terminal width and height; read from the stream when it is a TTY. */
  columns?: number;
  rows?: number;
  /** Injected clock for tests. */
  now?: () => number;
  /** false in tests: draw only on close() and on explicit render(). */
  live?: boolean;
}

export class TtySink implements ProgressSink {
  private readonly steps = new Map<number, StepView>();
  private readonly order: number[] = [];
  private readonly startedAt: number;
  private lastLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private readonly now: () => number;

  constructor(private readonly out: Writable & { columns?: number; rows?: number }, private readonly options: TtyOptions = {}) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    if (options.live !== false) {
      this.timer = setInterval(() => this.tick(), REDRAW_MS);
      this.timer.unref();
    }
  }

  private view(ref: StepRef, time: number): StepView {
    let v = this.steps.get(ref.id);
    if (!v) {
      v = { ref, status: 'running', startedAt: time, tail: [], notes: [], warnings: [], lines: new LineSplitter() };
      this.steps.set(ref.id, v);
      this.order.push(ref.id);
    }
    return v;
  }

  write(e: ProgressEvent): void {
    const v = this.view(e.step, e.time);
    switch (e.type) {
      case 'started':
        v.startedAt = e.time;
        break;
      case 'output':
        v.tail.push(...v.lines.push(e.data));
        if (v.tail.length > TAIL_LINES) v.tail.splice(0, v.tail.length - TAIL_LINES);
        break;
      case 'note':
        v.notes.push(e.text);
        break;
      case 'warning':
        v.warnings.push(e.warning);
        break;
      case 'cached':
        v.status = 'cached';
        v.endedAt = e.time;
        break;
      case 'done':
        v.status = 'done';
        v.endedAt = e.time;
        break;
      case 'error': {
        const rest = v.lines.flush();
        if (rest !== undefined) v.tail.push(rest);
        v.status = 'error';
        v.error = e.message;
        v.endedAt = e.time;
        break;
      }
    }
    this.dirty = true;
  }

  private tick(): void {
    const running = [...this.steps.values()].some((v) => v.status === 'running');
    if (this.dirty || running) this.render();
  }

  /** The lines of the current frame, without escape codes for cursor movement. */
  frame(): string[] {
    const now = this.now();
    // A pseudo-terminal with no size set reports 0 columns and rows: treat that as unknown.
    const width = Math.max(40, this.options.columns || this.out.columns || 80);
    const views = this.order.map((id) => this.steps.get(id) as StepView);
    const finished = views.filter((v) => v.status !== 'running').length;
    const failed = views.some((v) => v.status === 'error');
    const header = `[+] Building ${seconds(now - this.startedAt)} (${finished}/${views.length})${failed ? ' FINISHED WITH ERRORS' : ''}`;
    const fit = (s: string): string => (s.length > width ? `${s.slice(0, width - 1)}…` : s);
    const row = (label: string, time: string): string => {
      const room = width - time.length - 1;
      const left = label.length > room ? `${label.slice(0, Math.max(0, room - 1))}…` : label.padEnd(room);
      return `${left} ${time}`;
    };
    const lines: string[] = [header];
    for (const v of views) {
      const elapsed = seconds((v.endedAt ?? now) - v.startedAt);
      switch (v.status) {
        case 'running':
          lines.push(row(` => ${v.ref.name}`, elapsed));
          for (const n of v.notes) lines.push(colour.dim(fit(` => => ${n}`)));
          for (const t of v.tail) lines.push(colour.dim(fit(` => => # ${t}`)));
          break;
        case 'cached':
          lines.push(colour.blue(row(` => CACHED ${v.ref.name}`, '0.0s')));
          for (const n of v.notes) lines.push(colour.dim(fit(` => => ${n}`)));
          break;
        case 'done':
          lines.push(colour.blue(row(` => ${v.ref.name}`, elapsed)));
          for (const n of v.notes) lines.push(colour.dim(fit(` => => ${n}`)));
          break;
        case 'error':
          lines.push(colour.red(row(` => ERROR ${v.ref.name}`, elapsed)));
          for (const t of v.tail) lines.push(fit(` => => # ${t}`));
          lines.push(colour.red(fit(` => => ERROR: ${v.error ?? ''}`)));
          break;
      }
      for (const w of v.warnings) lines.push(colour.yellow(fit(` => WARN: ${w.text}`)));
    }
    // Keep the frame within the terminal: drop the oldest finished steps first.
    const maxRows = Math.max(5, (this.options.rows || this.out.rows || 40) - 1);
    if (lines.length > maxRows) return [lines[0] as string, ...lines.slice(lines.length - maxRows + 1)];
    return lines;
  }

  render(): void {
    this.dirty = false;
    const lines = this.frame();
    let text = this.lastLines > 0 ? `${ESC}${this.lastLines}A` : '';
    for (const l of lines) text += `${ESC}2K${l}\n`;
    text += `${ESC}J`;
    this.lastLines = lines.length;
    this.out.write(text);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.render();
    const warnings = this.order.flatMap((id) => this.steps.get(id)?.warnings ?? []);
    if (warnings.length > 0) this.out.write(colour.yellow(warningSummary(warnings)));
  }
}
