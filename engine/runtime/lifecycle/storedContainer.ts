/**
 * What a container is started with, kept beside its record (containers/<id>/config.json) so a
 * supervisor can start it — the first time, after each exit its restart policy allows, and on
 * `kiln start` / `kiln restart` — and `kiln exec` and `kiln inspect` see the same settings.
 * Written once when the container is created (temp file + rename).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors/kilnError.js';
import type { ContainerSpec } from '../container.js';
import type { RestartPolicy } from './restartPolicy.js';

export interface StoredContainer {
  /** As runContainer takes it; the holder chooses stdio for each start. */
  spec: ContainerSpec;
  tty: boolean;
  /** `-i`: the container's stdin stays open for `kiln attach`. */
  openStdin: boolean;
  restartPolicy: RestartPolicy;
  /** `--rm`: removed when it exits for good. */
  autoRemove: boolean;
  /** The image's STOPSIGNAL (or --stop-signal), SIGTERM when neither says. */
  stopSignal: string;
  /** True when the image or a flag named the stop signal (moby's restart rules tell them apart). */
  stopSignalSet: boolean;
  /** `--stop-timeout` / the image's StopTimeout, in seconds; docker's 10 when absent. */
  stopTimeout?: number;
  /** What the container's image is made of (its layers' digests): a supervisor leases them while it runs. */
  holds: string[];
  /** The image's config as the container uses it (for inspect). */
  imageConfig: { Entrypoint?: string[] | null; Cmd?: string[] | null; Labels?: Record<string, string> | null; WorkingDir?: string; User?: string };
}

export const DEFAULT_STOP_TIMEOUT = 10;

// --ulimit values are bigints (limits beyond 2^53): kept in JSON as {"$bigint": "DIGITS"}.
function keepBigint(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? { $bigint: value.toString() } : value;
}

function reviveBigint(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 1 && typeof (value as { $bigint?: unknown }).$bigint === 'string') {
    return BigInt((value as { $bigint: string }).$bigint);
  }
  return value;
}

function parseStored(text: string): StoredContainer {
  return JSON.parse(text, reviveBigint) as StoredContainer;
}

function file(containerDir: string): string {
  return join(containerDir, 'config.json');
}

export function writeStoredContainer(containerDir: string, stored: StoredContainer): void {
  const path = file(containerDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(stored, keepBigint) + '\n');
  renameSync(tmp, path);
}

export function readStoredContainer(containerDir: string, id: string): StoredContainer {
  try {
    return parseStored(readFileSync(file(containerDir), 'utf8'));
  } catch (err) {
    throw new KilnError('CONTAINER_CONFIG', `container ${id} has no start settings (made by an older kiln, or damaged): ${(err as Error).message}`);
  }
}

/** The stored settings when there are any (containers of a foreground `kiln run` have them too). */
export function storedContainerOrUndefined(containerDir: string): StoredContainer | undefined {
  try {
    return parseStored(readFileSync(file(containerDir), 'utf8'));
  } catch {
    return undefined;
  }
}
