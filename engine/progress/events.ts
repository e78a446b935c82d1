/**
 * The one event API of a build's progress. Every sink (tty, plain, json) renders the same
 * events; the build only ever talks to a Progress.
 */
export interface StepRef {
  /** The `#N` of the step, unique within a build. */
  id: number;
  /** `[stage i/n] INSTRUCTION` as the user wrote it. */
  name: string;
  /** Stage name, or its index as a string. */
  stage: string;
  /** A step BuildKit does not list (ENV, LABEL, …): it runs, but no event of it is shown. */
  hidden?: boolean;
}

/** A build check's finding, as the build reports it (BuildKit's vertex warning). */
export interface BuildWarning {
  rule: string;
  message: string;
  description: string;
  url: string;
  /** First line it points at; 0 for none. */
  line: number;
  /** `Rule: message (line N)`, BuildKit's short form. */
  text: string;
}

export type ProgressEvent =
  | { type: 'started'; step: StepRef; time: number }
  | { type: 'output'; step: StepRef; stream: 'stdout' | 'stderr'; data: string; time: number }
  /** A line of information about the step that is not its output (e.g. --explain's verdict). */
  | { type: 'note'; step: StepRef; text: string; time: number }
  | { type: 'cached'; step: StepRef; time: number }
  | { type: 'warning'; step: StepRef; warning: BuildWarning; time: number }
  | { type: 'done'; step: StepRef; time: number }
  | { type: 'error'; step: StepRef; message: string; time: number };

/** Where a line-by-line view writes its text (a stream, or a descriptor written straight). */
export interface TextOut {
  write(text: string): unknown;
}

export interface ProgressSink {
  write(event: ProgressEvent): void;
  /** Flushes what is pending and stops any timer; the sink is not used afterwards. */
  close(): Promise<void>;
}

/** What every sink but json prints after the build: each warning again, as BuildKit's client lists them. */
export function warningSummary(warnings: readonly BuildWarning[]): string {
  return warnings.map((w) => `WARN: ${w.text}\n`).join('');
}

/** Splits chunks of output into whole lines, keeping the unfinished tail for later. */
export class LineSplitter {
  private partial = '';
  push(data: string): string[] {
    const text = this.partial + data;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }
  /** The unfinished last line, if any; clears it. */
  flush(): string | undefined {
    const p = this.partial;
    this.partial = '';
    return p === '' ? undefined : p;
  }
}
