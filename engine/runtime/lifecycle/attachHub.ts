/**
 * The supervisor's attach socket (containers/<id>/attach.sock): `kiln attach` and `kiln start
 * -a` connect to see the container's output from then on, send it keystrokes (when it was
 * started with -i) and terminal sizes, and learn its exit status. Only the store's owner can
 * reach the socket (the container directory is 0700 under the store); the container cannot (it
 * is not in its mount namespace).
 */
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { FrameKind, FrameReader, frame, socketPath, type AttachRequest } from './attachFrames.js';

export interface AttachTarget {
  /** Where attached keystrokes go; undefined when the container's stdin is not open. */
  input(): NodeJS.WritableStream | undefined;
  resize(rows: number, cols: number): void;
}

export class AttachHub {
  private readonly clients = new Set<Socket>();
  private server: Server | undefined;
  private bound: string | undefined;

  constructor(private readonly containerDir: string, private readonly target: AttachTarget) {}

  /** Starts listening (a socket a dead supervisor left is replaced). */
  async listen(): Promise<void> {
    const { path, dirFd } = socketPath(this.containerDir, (d) => openSync(d, 'r'));
    try { unlinkSync(`${this.containerDir}/attach.sock`); } catch { /* none left */ }
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => { server.off('error', reject); resolve(); });
    });
    if (dirFd !== undefined) closeSync(dirFd);
    server.unref();
    this.server = server;
    this.bound = `${this.containerDir}/attach.sock`;
  }

  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.clients.size === 0) return;
    const f = frame(stream === 'stdout' ? FrameKind.Stdout : FrameKind.Stderr, chunk);
    for (const c of this.clients) c.write(f);
  }

  /** The container exited: attached clients get its status and are let go. */
  exited(code: number): void {
    const f = frame(FrameKind.Exit, String(code));
    for (const c of this.clients) c.end(f);
    this.clients.clear();
  }

  close(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    this.server?.close();
    if (this.bound !== undefined) {
      try { unlinkSync(this.bound); } catch { /* gone already */ }
    }
  }

  private accept(socket: Socket): void {
    socket.on('error', () => this.clients.delete(socket));
    socket.on('close', () => this.clients.delete(socket));
    let head = '';
    let request: AttachRequest | undefined;
    const reader = new FrameReader((kind, payload) => {
      if (kind === FrameKind.Stdin && request?.stdin) this.target.input()?.write(payload);
      else if (kind === FrameKind.Resize) {
        const [rows, cols] = payload.toString().split(' ').map(Number);
        if (rows && cols) this.target.resize(rows, cols);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (request) return reader.push(chunk);
      head += chunk.toString('latin1');
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      try {
        request = JSON.parse(head.slice(0, nl)) as AttachRequest;
      } catch {
        socket.destroy();
        return;
      }
      this.clients.add(socket);
      const rest = Buffer.from(head.slice(nl + 1), 'latin1');
      if (rest.length > 0) reader.push(rest);
    });
  }
}
