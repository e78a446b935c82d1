/**
 * The seam between build steps and how a stage's files are laid out on disk. Stage views (what
 * COPY reads, --chown names, WORKDIR checks), RUN containers' roots and the capture of a RUN's
 * layer all go through one Snapshotter:
 *
 * - 'overlay' (overlaySnapshotter.ts): each layer extracted once; a view is a read-only overlay
 *   mount of the stack, a RUN root an overlay with a fresh upper dir that becomes the layer.
 * - 'copy' (copySnapshotter.ts, docker's and buildah's vfs): a stack's whole root kept as one
 *   directory; a RUN root is a copy of it, and the layer is the difference the step made. No
 *   mount: it works where overlayfs cannot (an unprivileged container, a filesystem overlay
 *   refuses, chroot isolation).
 *
 * Both produce the same layer bytes for the same step, so image IDs do not depend on which ran.
 */
import type { Stats } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';
import type { LayerEntry } from '../layer/layerEntry.js';
import type { LayerRef } from './state.js';

export type SnapshotterKind = 'overlay' | 'copy';
export type SnapshotterRequest = 'auto' | SnapshotterKind;

/** A read-only view of a stage's root filesystem as one directory. */
export interface StageView {
  readonly root: string;
  /** Host path of an image path, symlinks resolved inside the view. */
  resolve(path: string, followFinal?: boolean): Promise<string>;
  statIn(path: string): Promise<Stats | undefined>;
  readText(path: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** What a RUN step reads of its stage's root before it starts (/etc/passwd, mount targets). */
export interface StageRoot {
  readText(path: string): Promise<string | undefined>;
  statIn(path: string): Promise<Stats | undefined>;
}

/** The root a RUN container gets: an overlay of the stack, or a prepared directory. */
export type RunRootfs =
  | { kind: 'overlay'; lowerDirs: string[]; upperDir: string; workDir: string }
  | { kind: 'dir'; dir: string };

/**
 * Something kiln puts into a prepared root for the run and takes out after: a mount point, or
 * (where nothing can be mounted) the mount's content itself — copied in (a bind, a secret, a
 * generated /etc file), or moved in and back (a cache mount's entries).
 */
export interface RootStub {
  path: string;
  kind: 'dir' | 'file' | 'char-device';
  mode?: number;
  uid?: number;
  gid?: number;
  /** char-device: its numbers. */
  device?: { major: number; minor: number };
  fill?: { from: string; how: 'copy' | 'move' } | { text: string };
}

/** A RUN step's layer, captured after its command succeeded. */
export interface CapturedLayer {
  /** An overlay upper dir (its whiteouts are overlay's), or the layer as a tree of entries. */
  readonly diff: string | LayerEntry;
  readonly empty: boolean;
  /** Lowers the times of the layer's files on disk to `seconds` (later steps read those files). */
  clamp(seconds: number): Promise<void>;
  /** The layer is stored on top of `layers` (which now end with it): keep the files for later steps. */
  keep(layers: readonly LayerRef[]): Promise<void>;
}

export interface RunRoot {
  readonly rootfs: RunRootfs;
  readonly files: StageRoot;
  /**
   * Called right before the command starts: changes from here on are the step's, and what it
   * makes belongs to `owner` (its user; where the disk cannot hold owners, see ownerLedger.ts).
   */
  watch(owner?: { uid: number; gid: number }): void;
  capture(): Promise<CapturedLayer>;
  /** Gives the root up (the step failed, or its layer was kept); undoes the stubs. */
  discard(): Promise<void>;
}

export interface Snapshotter {
  readonly kind: SnapshotterKind;
  openView(layers: readonly LayerRef[]): Promise<StageView>;
  /** A root for a RUN step on the stack `layers`, with `stubs` in place (only a prepared directory takes stubs). */
  prepareRun(layers: readonly LayerRef[], stubs: readonly RootStub[]): Promise<RunRoot>;
}

/** The request a flag value (or KILN_SNAPSHOTTER) names; a usage error for anything else. */
export function parseSnapshotter(text: string | undefined, source: string): SnapshotterRequest {
  const v = (text ?? 'auto').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'overlay' || v === 'overlayfs') return 'overlay';
  if (v === 'copy' || v === 'vfs') return 'copy';
  throw new KilnError('USAGE', `invalid ${source} "${text}": expected auto, overlay or copy`, { exitCode: 2 });
}
