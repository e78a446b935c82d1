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
}

export type ProgressEvent =
  | { type: 'started'; step: StepRef; time: number }
  | { type: 'output'; step: StepRef; stream: 'stdout' | 'stderr'; data: string; time: number }
  /** A line of information about the step that is not its output (e.g. --explain's verdict). */
  | { type: 'note'; step: StepRef; text: string; time: number }
  | { type: 'cached'; step: StepRef; time: number }
  | { type: 'done'; step: StepRef; time: number }
  | { type: 'error'; step: StepRef; message: string; time: number };

export interface ProgressSink {
  write(event: ProgressEvent): void;
  /** Flushes what is pending and stops any timer; the sink is not used afterwards. */
  close(): Promise<void>;
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
