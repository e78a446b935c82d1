/**
 * The attach socket's wire format, between a container's supervisor and `kiln attach` / `kiln
 * start -a`: the client sends one JSON line (what it wants), then both sides send frames of
 * [kind: 1 byte][length: 4 bytes, big-endian][payload] — as docker's stdcopy multiplexes
 * streams on one connection, plus the exit status and terminal resizes.
 */

export const enum FrameKind {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  /** Payload: the exit code, in decimal. */
  Exit = 3,
  /** Payload: "ROWS COLS". */
  Resize = 4,
}

export interface AttachRequest {
  /** Relay the client's input to the container's stdin (it was started with -i). */
  stdin: boolean;
}

export function frame(kind: FrameKind, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head[0] = kind;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Reassembles frames from a byte stream. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (kind: FrameKind, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) break;
      const kind = this.pending[0] as FrameKind;
      const payload = this.pending.subarray(5, 5 + len);
      this.pending = this.pending.subarray(5 + len);
      this.onFrame(kind, payload);
    }
  }
}

/**
 * The attach socket's path. A unix socket's path must fit in 108 bytes, and a store under a
 * long directory makes longer ones: then the path goes through /proc/self/fd of an open
 * descriptor of the container's directory, which the caller closes once bound or connected.
 */
export function socketPath(containerDir: string, openDir: (dir: string) => number): { path: string; dirFd?: number } {
  const direct = `${containerDir}/attach.sock`;
  if (Buffer.byteLength(direct) < 100) return { path: direct };
  const dirFd = openDir(containerDir);
  return { path: `/proc/self/fd/${dirFd}/attach.sock`, dirFd };
}
