/**
 * What `kiln image report` records: per layer, the files it adds, changes and removes (with
 * sizes), what later layers waste of it, and dive's figures for the whole image — efficiency,
 * wasted bytes, the inefficient paths — with the CI rules' verdicts. The JSON report is this
 * object; the HTML page embeds it and draws a browsable tree per layer.
 */

export const IMAGE_REPORT_KIND = 'kiln.image-report';
export const IMAGE_REPORT_VERSION = 1;

/** f: regular file, d: directory, l: symlink, h: hard link, o: other (device, fifo). */
export type EntryKind = 'f' | 'd' | 'l' | 'h' | 'o';
/** a: added, c: changed (the path was there below), u: a directory as it was below,
 * r: removed (a whiteout), o: a directory emptied of what lower layers held (opaque). */
export type EntryChange = 'a' | 'c' | 'u' | 'r' | 'o';

/** One path a layer touches: [path, kind, size, change, link target?]. Sizes of removals are what they hid. */
export type LayerEntry = [path: string, kind: EntryKind, size: number, change: EntryChange, link?: string];

export interface LayerSummary {
  index: number;
  diffId: string;
  /** Bytes of the layer tar. */
  tarSize: number;
  /** Sum of its entries' sizes (dive's layer size). */
  contentSize: number;
  createdBy: string;
  created?: string;
  added: { files: number; bytes: number };
  changed: { files: number; bytes: number };
  removed: { files: number; bytes: number };
  /** Bytes of this layer's files that later layers overwrite or delete. */
  wastedLater: number;
  entries: LayerEntry[];
}

/** A path dive counts as inefficient: it appears in more than one layer. */
export interface Inefficiency {
  path: string;
  /** Layers it appears in (a deletion counts as an appearance). */
  layers: number[];
  /** Sum of its sizes in those layers, as dive adds them up. */
  bytes: number;
}

export interface RuleResult {
  rule: 'max-wasted' | 'min-efficiency';
  threshold: number;
  result: 'pass' | 'fail';
  message: string;
}

export interface ImageReport {
  kind: typeof IMAGE_REPORT_KIND;
  version: typeof IMAGE_REPORT_VERSION;
  image: { id: string; tags: string[]; created?: string; os?: string; architecture?: string };
  layers: LayerSummary[];
  /** Files in the image as it runs (after every layer). */
  files: number;
  /** dive's figures: sizes are sums of entry sizes; userSize leaves out the first layer. */
  efficiency: number;
  wastedBytes: number;
  sizeBytes: number;
  userSizeBytes: number;
  wastedUserPercent: number;
  inefficiencies: Inefficiency[];
  rules: RuleResult[];
}
