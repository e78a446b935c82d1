/**
 * What `kiln pull` / `kiln push` print per layer, as docker does: on a terminal, one line per
 * layer redrawn in place with bytes moved; otherwise one line per finished layer.
 */
import type { TransferProgress } from '../registry/transferProgress.js';
import { shortDigest } from '../registry/transferProgress.js';

const REDRAW_MS = 100;

function mb(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}kB` : `${n}B`;
}

function bar(current: number, total: number): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

export class TransferDisplay {
  private readonly order: string[] = [];
  private readonly lines = new Map<string, string>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `words` maps a status to docker's wording ("Pull complete", "Pushed", …). */
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly words: Partial<Record<TransferProgress['status'], string>>,
    private readonly live: boolean = Boolean(out.isTTY),
  ) {}

  event(e: TransferProgress): void {
    if (e.status === 'warning') {
      process.stderr.write(`WARNING: ${e.message ?? ''}\n`);
      return;
    }
    if (!e.digest) return;
    const id = shortDigest(e.digest);
    let text: string | undefined;
    if (e.status === 'downloading' || e.status === 'uploading') {
      const verb = e.status === 'downloading' ? 'Downloading' : 'Pushing';
      text = e.total ? `${verb} ${bar(e.current ?? 0, e.total)} ${mb(e.current ?? 0)}/${mb(e.total)}` : verb;
    } else if (e.status === 'mounted') {
      text = `Mounted from ${(e.message ?? '').replace(/^mounted from /, '')}`;
    } else {
      text = this.words[e.status];
    }
    if (text === undefined) return;
    const final = e.status === 'done' || e.status === 'exists' || e.status === 'mounted';
    if (!this.live) {
      if (final) this.out.write(`${id}: ${text}\n`);
      return;
    }
    if (!this.lines.has(id)) this.order.push(id);
    this.lines.set(id, text);
    if (final) this.draw();
    else this.timer ??= setTimeout(() => this.draw(), REDRAW_MS);
  }

  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const id of this.order) s += `\x1b[2K${id}: ${this.lines.get(id) ?? ''}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }

  /** Final redraw; call before printing the summary lines. */
  close(): void {
    if (this.live && this.order.length > 0) this.draw();
  }
}
