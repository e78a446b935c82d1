/**
 * Timing a report derives from the graph: when each step could start (the last of the steps it
 * waits for was done) and the critical path — from the step that finished last, back through
 * whatever it waited for, to the start. A step waits for the steps its edges name, and, when
 * every job was busy, for the step whose end freed the job it got. Shortening a step off that
 * path would not have ended the build sooner.
 */
import type { ReportEdge, ReportStep } from './buildReport.js';

type Timed = ReportStep & { started: number; finished: number };

export function markCriticalPath(steps: ReportStep[], edges: readonly ReportEdge[]): void {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const preds = new Map<string, ReportStep[]>();
  for (const e of edges) {
    const from = byId.get(e.from);
    if (from) preds.set(e.to, [...(preds.get(e.to) ?? []), from]);
  }
  const began = steps.filter((s) => s.started !== undefined);
  const graphStart = Math.min(...began.map((s) => s.started as number));
  for (const s of began) {
    const waitedFor = (preds.get(s.id) ?? []).flatMap((p) => (p.finished === undefined ? [] : [p.finished]));
    s.queued = Math.min(s.started as number, waitedFor.length > 0 ? Math.max(...waitedFor) : graphStart);
  }
  const timed = began.filter((s): s is Timed => s.finished !== undefined);
  const order = new Map(steps.map((s, i) => [s.id, i]));
  // Ties go to the step that began later: it is the one the others were done before.
  const latest = (list: readonly ReportStep[]): Timed | undefined => list
    .filter((p): p is Timed => p.finished !== undefined && p.started !== undefined && !p.critical)
    .sort((a, b) => b.finished - a.finished || b.started - a.started || (order.get(b.id) ?? 0) - (order.get(a.id) ?? 0))[0];
  let current = latest(timed);
  while (current) {
    current.critical = true;
    const step = current;
    const waited = step.started - (step.queued ?? step.started) > 0;
    // Waiting for a job: the step that ended while this one waited, last, gave it its job.
    const freedJob = waited ? timed.filter((o) => o !== step && o.finished <= step.started && o.finished >= (step.queued ?? 0)) : [];
    current = latest([...(preds.get(step.id) ?? []), ...freedJob]);
  }
}
