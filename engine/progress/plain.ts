/**
 * BuildKit's plain progress: one line per event, each prefixed with the step's `#N`, so
 * the output of steps running at the same time can be told apart in a CI log.
 *   #5 [build 2/4] RUN make
 *   #5 0.312 cc -o app main.c
 *   #5 DONE 1.4s
 *   #6 [build 3/4] COPY . /src
 *   #6 CACHED
 * A build check's warning is a `#1 WARN: Rule: message (line N)` line under the vertex that
 * loads the Dockerfile, and is listed again after the build.
 */
import { LineSplitter, warningSummary, type BuildWarning, type ProgressEvent, type ProgressSink, type TextOut } from './events.js';

interface StepState {
  startedAt: number;
  lines: LineSplitter;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export class PlainSink implements ProgressSink {
  private readonly steps = new Map<number, StepState>();
  private readonly warnings: BuildWarning[] = [];

  constructor(private readonly out: TextOut) {}

  private state(id: number, time: number): StepState {
    let s = this.steps.get(id);
    if (!s) {
      s = { startedAt: time, lines: new LineSplitter() };
      this.steps.set(id, s);
    }
    return s;
  }

  private line(id: number, startedAt: number, time: number, text: string): string {
    return `#${id} ${((time - startedAt) / 1000).toFixed(3)} ${text}\n`;
  }

  write(e: ProgressEvent): void {
    const id = e.step.id;
    switch (e.type) {
      case 'started':
        this.state(id, e.time);
        this.out.write(`#${id} ${e.step.name}\n`);
        return;
      case 'output': {
        const s = this.state(id, e.time);
        const text = s.lines.push(e.data).map((l) => this.line(id, s.startedAt, e.time, l)).join('');
        if (text) this.out.write(text);
        return;
      }
      case 'note':
        this.out.write(`#${id} ${e.text}\n`);
        return;
      case 'warning':
        this.warnings.push(e.warning);
        this.out.write(`#${id} WARN: ${e.warning.text}\n`);
        return;
      case 'cached':
        if (!this.steps.has(id)) this.out.write(`#${id} ${e.step.name}\n`);
        this.out.write(`#${id} CACHED\n\n`);
        this.steps.delete(id);
        return;
      case 'done':
      case 'error': {
        const s = this.state(id, e.time);
        const rest = s.lines.flush();
        if (rest !== undefined) this.out.write(this.line(id, s.startedAt, e.time, rest));
        this.out.write(e.type === 'done' ? `#${id} DONE ${seconds(e.time - s.startedAt)}\n\n` : `#${id} ERROR: ${e.message}\n\n`);
        this.steps.delete(id);
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.steps.clear();
    if (this.warnings.length > 0) this.out.write(warningSummary(this.warnings));
  }
}
