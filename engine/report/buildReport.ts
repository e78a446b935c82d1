/**
 * What `kiln build --report` records: the stage graph, every step with its times, cache verdict,
 * output and layer, and the build's totals. The JSON report is this object; the HTML page embeds
 * the same object and draws it. Times are milliseconds since the build started.
 */

export const BUILD_REPORT_KIND = 'kiln.build-report';
export const BUILD_REPORT_VERSION = 1;

/** cached: served by the build cache; ran: executed; failed: the error that stopped the build;
 * canceled: running when the build stopped; skipped: never reached. */
export type StepStatus = 'cached' | 'ran' | 'failed' | 'canceled' | 'skipped';

export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; stage: number }
  | { kind: 'context'; name: string }
  | { kind: 'image'; ref: string };

export interface ReportStage {
  index: number;
  /** The `AS` name, if any. */
  name?: string;
  /** What the progress output calls it: the name, else the index. */
  label: string;
  base: StageBase;
  /** The FROM's line in the Dockerfile. */
  line: number;
  /** The stage the build's image comes from. */
  target: boolean;
}

export interface ReportLayer {
  diffId: string;
  /** Bytes of the layer tar. */
  size: number;
}

export interface ReportStep {
  /** Node id in the graph: `#N` as the progress output numbers it, `unlisted-N` for a step it does not list, or `skipped-N`. */
  id: string;
  /** The progress output's `#N`, for listed steps that began. */
  number?: number;
  stage: number;
  /** 0 for the FROM, else 1-based among the stage's instructions (ONBUILD triggers first). */
  position: number;
  /** The instruction as written (FROM with its base), ONBUILD triggers prefixed. */
  instruction: string;
  /** Dockerfile lines (1-based); absent for an inherited ONBUILD trigger. */
  line?: number;
  endLine?: number;
  onbuild: boolean;
  status: StepStatus;
  /** When it could start (every step it waits for was done), started and finished. */
  queued?: number;
  started?: number;
  finished?: number;
  /** --explain's line: `HIT`, or `MISS: reason; reason`. */
  verdict?: string;
  /** Its stdout and stderr as they came, the tail when long. */
  output: string;
  /** Characters of output left out at the start (output longer than the report keeps). */
  outputDropped: number;
  error?: string;
  layers: ReportLayer[];
  /** On the chain of steps that decided when the build ended. */
  critical: boolean;
}

export type EdgeKind = 'order' | 'base-stage' | 'base-image' | 'copy-from' | 'mount-from';

export interface ReportEdge {
  /** A step id, or `image:REF` / `context:NAME` for what comes from outside the Dockerfile. */
  from: string;
  to: string;
  kind: EdgeKind;
}

/** An image or named context the build reads. */
export interface ReportSource {
  id: string;
  kind: 'image' | 'context';
  ref: string;
}

export interface BuildTotals {
  durationMs: number;
  steps: number;
  cached: number;
  ran: number;
  failed: number;
  canceled: number;
  skipped: number;
  /** Bytes of the layers this build wrote (steps that ran). */
  bytesWritten: number;
  imageId?: string;
  /** Sum of the image's layer sizes, as `kiln images` shows it. */
  imageSize?: number;
}

export interface BuildReport {
  kind: typeof BUILD_REPORT_KIND;
  version: typeof BUILD_REPORT_VERSION;
  dockerfile: string;
  context: string;
  target?: string;
  tags: string[];
  /** Wall-clock start, RFC 3339. */
  startedAt: string;
  outcome: 'succeeded' | 'failed';
  error?: string;
  stages: ReportStage[];
  sources: ReportSource[];
  steps: ReportStep[];
  edges: ReportEdge[];
  totals: BuildTotals;
}
