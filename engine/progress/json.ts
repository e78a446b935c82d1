/**
 * Machine-readable progress: one JSON object per line, in the order things happened.
 *   {"event":"started","id":5,"name":"[build 2/4] RUN make","stage":"build","started":"…"}
 *   {"event":"output","id":5,…,"stream":"stdout","output":"cc -o app main.c\n"}
 *   {"event":"done","id":5,…,"started":"…","completed":"…","duration":1.402}
 *   {"event":"cached","id":6,…,"cached":true}
 *   {"event":"error","id":7,…,"error":"process \"false\" exited 1"}
 *   {"event":"warning","id":1,…,"warning":"StageNameCasing: … (line 1)","rule":"StageNameCasing","message":…,"line":1,"url":…}
 */
import type { ProgressEvent, ProgressSink, TextOut } from './events.js';

export class JsonSink implements ProgressSink {
  private readonly startedAt = new Map<number, number>();

  constructor(private readonly out: TextOut) {}

  write(e: ProgressEvent): void {
    const base = { event: e.type, id: e.step.id, name: e.step.name, stage: e.step.stage };
    const iso = new Date(e.time).toISOString();
    let record: Record<string, unknown>;
    switch (e.type) {
      case 'started':
        this.startedAt.set(e.step.id, e.time);
        record = { ...base, started: iso };
        break;
      case 'output':
        record = { ...base, time: iso, stream: e.stream, output: e.data };
        break;
      case 'note':
        record = { ...base, time: iso, note: e.text };
        break;
      case 'warning': {
        const { text, ...w } = e.warning;
        record = { ...base, time: iso, warning: text, ...w };
        break;
      }
      case 'cached':
        record = { ...base, completed: iso, cached: true };
        break;
      case 'done':
      case 'error': {
        const started = this.startedAt.get(e.step.id) ?? e.time;
        record = {
          ...base,
          started: new Date(started).toISOString(),
          completed: iso,
          duration: (e.time - started) / 1000,
          ...(e.type === 'error' ? { error: e.message } : {}),
        };
        break;
      }
    }
    this.out.write(`${JSON.stringify(record)}\n`);
  }

  async close(): Promise<void> {
    this.startedAt.clear();
  }
}
