/**
 * A layer stack as overlay lower dirs, topmost first, each distinct layer once at its topmost
 * place. An image may hold the same layer twice (COPY of the same files twice gives the same
 * diff); overlayfs refuses a lower dir that appears twice (ELOOP), and a lower copy of a layer
 * that also sits higher up shows nothing the higher copy does not already show on top.
 */
export function topmostFirst(diffIds: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = diffIds.length - 1; i >= 0; i--) {
    const d = diffIds[i] as string;
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(d);
  }
  return out;
}
