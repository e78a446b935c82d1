/**
 * What the build talks to: one method per event, forwarded to the sink the user chose
 * with --progress (auto picks tty for a terminal, plain otherwise) or -q (quiet).
 */
import type { Writable } from 'node:stream';
import { isTerminal } from '../host/isTerminal.js';
import { standardErrorText } from '../host/standardStreams.js';
import type { BuildWarning, ProgressEvent, ProgressSink, StepRef } from './events.js';
import { JsonSink } from './json.js';
import { PlainSink } from './plain.js';
import { TtySink } from './tty.js';

export type { BuildWarning, StepRef, ProgressEvent, ProgressSink };
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'json', 'quiet'];

export class Progress {
  private nextId = 1;
  /** Hidden steps are numbered -1, -2, …: told apart by listeners, never taking a `#N`. */
  private nextHiddenId = -1;
  private readonly listeners: ((e: ProgressEvent) => void)[] = [];

  constructor(private readonly sink: ProgressSink | undefined, private readonly now: () => number = Date.now) {}

  /** A new step reference with the next `#N`. */
  step(name: string, stage: string): StepRef {
    return { id: this.nextId++, name, stage };
  }

  /** A step that runs without being listed (BuildKit shows no vertex for ENV, LABEL, …): its events reach listeners only. */
  hidden(name: string, stage: string): StepRef {
    return { id: this.nextHiddenId--, name, stage, hidden: true };
  }

  /** Also hand every event to `fn` (tests, --explain summaries). */
  onEvent(fn: (e: ProgressEvent) => void): void {
    this.listeners.push(fn);
  }

  private emit(e: ProgressEvent): void {
    if (!e.step.hidden) this.sink?.write(e);
    for (const l of this.listeners) l(e);
  }

  started(step: StepRef): void {
    this.emit({ type: 'started', step, time: this.now() });
  }
  output(step: StepRef, stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    this.emit({ type: 'output', step, stream, data: typeof chunk === 'string' ? chunk : chunk.toString('utf8'), time: this.now() });
  }
  note(step: StepRef, text: string): void {
    this.emit({ type: 'note', step, text, time: this.now() });
  }
  warning(step: StepRef, warning: BuildWarning): void {
    this.emit({ type: 'warning', step, warning, time: this.now() });
  }
  cached(step: StepRef): void {
    this.emit({ type: 'cached', step, time: this.now() });
  }
  done(step: StepRef): void {
    this.emit({ type: 'done', step, time: this.now() });
  }
  error(step: StepRef, message: string): void {
    this.emit({ type: 'error', step, message, time: this.now() });
  }
  async close(): Promise<void> {
    await this.sink?.close();
  }
}

/**
 * Progress for a --progress value. Writes to stderr unless told otherwise (as BuildKit does): the
 * line-by-line views straight to descriptor 2 (no stream machinery to load, and what they print
 * can be tapped, see host/standardStreams.ts), the terminal view through process.stderr.
 */
export function createProgress(mode: ProgressMode, to?: Writable & { isTTY?: boolean }): Progress {
  switch (mode) {
    case 'quiet':
      return new Progress(undefined);
    case 'json':
      return new Progress(new JsonSink(to ?? standardErrorText));
    case 'plain':
      return new Progress(new PlainSink(to ?? standardErrorText));
    case 'tty':
      return new Progress(new TtySink(to ?? process.stderr));
    case 'auto': {
      const terminal = (to === undefined ? isTerminal(2) : to.isTTY === true) && process.env.TERM !== 'dumb';
      if (terminal) return new Progress(new TtySink(to ?? process.stderr));
      return new Progress(new PlainSink(to ?? standardErrorText));
    }
  }
}
