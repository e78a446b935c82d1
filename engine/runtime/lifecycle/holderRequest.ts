/**
 * What a `kiln stop`, `kill` or `restart` asked of the process holding a container, left where
 * that holder looks when the container exits (containers/<id>/request): the command signals
 * the container itself, and the holder then knows the exit was asked for — so a restart policy
 * does not bring it back (stop), brings it back at once (restart), or, for a kill, decides as
 * moby does. Written before the signal is sent; taken (read and removed) by the holder.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HolderRequest {
  kind: 'stop' | 'kill' | 'restart';
  /** No restart by policy after this exit (moby's ExitOnNext). */
  canceled: boolean;
}

function file(containerDir: string): string {
  return join(containerDir, 'request');
}

export function leaveRequest(containerDir: string, request: HolderRequest): void {
  const path = file(containerDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(request));
  renameSync(tmp, path);
}

/** The request left for this exit, removed as it is read; undefined when there is none. */
export function takeRequest(containerDir: string): HolderRequest | undefined {
  const path = file(containerDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try { unlinkSync(path); } catch { /* taken by another reader */ }
  try {
    return JSON.parse(text) as HolderRequest;
  } catch {
    return undefined;
  }
}

/** The request waiting, without taking it (a restart delay checks whether a stop came). */
export function peekRequest(containerDir: string): HolderRequest | undefined {
  try {
    return JSON.parse(readFileSync(file(containerDir), 'utf8')) as HolderRequest;
  } catch {
    return undefined;
  }
}
