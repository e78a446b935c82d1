/**
 * BuildKit's `--progress=plain` log reduced to what two builders of the same recipe must share:
 * each vertex's `#N` header, its WARN lines, its output (without the elapsed-time column) and how
 * it ended (DONE/CACHED without the time, ERROR). Left out: times, byte counts (`transferring`),
 * docker 20.10's digest lines, the exporter's vertex (it differs by exporter) and anything outside
 * a vertex (a client's own summary).
 */
export interface PlainLog {
  /** The normalised lines, `#N` as printed. */
  lines: string[];
  /** The WARN lines, without their `#N`. */
  warnings: string[];
}

/** The steps docker 20.10's client starts at once, in either order from run to run. */
const RACING = new Set(['[internal] load build definition from Dockerfile', '[internal] load .dockerignore']);

/**
 * `renumber`: number vertices by first appearance (docker 20.10 numbers them by its solver's
 * order); `dropRacing`: leave out the two steps docker 20.10 starts in either order.
 */
export function normalizePlain(text: string, options: { renumber?: boolean; keepWarnings?: boolean; dropRacing?: boolean } = {}): PlainLog {
  const lines: string[] = [];
  const warnings: string[] = [];
  /** Vertices left out: the exporter, and the racing ones when asked. */
  const exporters = new Set<string>();
  const order = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(raw);
    if (!m) continue;
    const [, n, rest] = m as unknown as [string, string, string];
    if (rest.startsWith('exporting to') || (options.dropRacing && RACING.has(rest))) exporters.add(n);
    if (exporters.has(n) || rest.startsWith('sha256:') || rest.startsWith('transferring ')) continue;
    if (rest.startsWith('WARN: ')) {
      warnings.push(rest);
      if (!options.keepWarnings) continue;
    }
    if (!order.has(n)) order.set(n, order.size + 1);
    const id = options.renumber ? String(order.get(n)) : n;
    let body = rest.replace(/^DONE [0-9.]+s$/, 'DONE').replace(/^[0-9]+\.[0-9]+ /, '');
    // An internal vertex served from BuildKit's cache (an inline document) is as good as done.
    if (body === 'CACHED' && lines.some((l) => l.startsWith(`#${id} [internal]`))) body = 'DONE';
    lines.push(`#${id} ${body.replace(/@sha256:[0-9a-f]{64}/g, '')}`);
  }
  return { lines, warnings };
}
