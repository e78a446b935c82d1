/** Progress of a pull or push, one event per change, for the CLI or a build's progress sink. */
export interface TransferProgress {
  /** The blob concerned (`sha256:…`), or undefined for messages about the whole image. */
  digest?: string;
  status: 'resolving' | 'waiting' | 'exists' | 'mounted' | 'downloading' | 'uploading' | 'verifying' | 'done' | 'warning';
  /** Bytes moved so far and in all, for downloading/uploading. */
  current?: number;
  total?: number;
  message?: string;
}

export type ProgressCallback = (event: TransferProgress) => void;

/** `sha256:0123456789ab…` → `0123456789ab` (docker's short layer id). */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
