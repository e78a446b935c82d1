/**
 * A container's terminal (`kiln run -t`), made the way runc and crun make it: the container's
 * first process opens the pty multiplexer of the container's own devpts instance after
 * pivot_root, so the terminal is /dev/pts/0 inside (ttyname(), `tty`, /proc/self/fd/0 agree),
 * bound onto /dev/console as well; the master comes back to kiln over a unix socket. kiln
 * relays between the master and the user's terminal and keeps the window size in step.
 */
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nativeBinding, type NativeSpawnSpec } from '../../native/index.js';

/** Where the container's terminal comes from and where it also appears (mounts.ts puts devpts on /dev/pts). */
const PTY_MULTIPLEXER = '/dev/pts/ptmx';
const CONSOLE = '/dev/console';

/**
 * The user's side: keystrokes from `input` (a terminal, in raw mode while the container runs;
 * or any stream, relayed as it is: an attached client's, through a supervisor), screen size
 * from `output`.
 */
export interface UserTerminal {
  input?: NodeJS.ReadableStream & { fd?: number; isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  output?: NodeJS.WriteStream;
}

/**
 * The spawn spec's terminal part. The window size is the user's terminal's when there is one
 * (set before the program starts, as docker does); without one it stays 0 0.
 */
export function terminalSpec(user: UserTerminal | undefined): NonNullable<NativeSpawnSpec['pty']> {
  const rows = user?.output?.rows;
  const cols = user?.output?.columns;
  return { ptmx: PTY_MULTIPLEXER, console: CONSOLE, ...(rows && cols ? { rows, cols } : {}) };
}

export interface TerminalRelay {
  /** Resolves when the container's side of the terminal is closed and its output read to the end. */
  readonly done: Promise<void>;
  /** Sets the container terminal's window size (its foreground processes get SIGWINCH). */
  resize(rows: number, cols: number): void;
  /** Stops relaying and restores the user's terminal. */
  close(): void;
}

/** node:tty loads only when a container has a terminal. */
const builtin = createRequire(import.meta.url);

/**
 * Waits for the master on `consoleSocketFd` and relays: the container's output to `onOutput`,
 * the user's keystrokes (when `user.input` is a terminal) to the container, and the user's
 * window size changes. If the child fails before it sends the master, `done` resolves at once.
 */
export function relayTerminal(consoleSocketFd: number, user: UserTerminal | undefined, onOutput: (chunk: Buffer) => void): TerminalRelay {
  const native = nativeBinding();
  let masterFd = -1;
  let closed = false;
  /** Asked for before the master arrived: applied when it does. */
  let wanted: [number, number] | undefined;
  const undo: (() => void)[] = [];
  const resize = (rows: number, cols: number): void => {
    wanted = [rows, cols];
    if (masterFd < 0 || closed) return;
    try {
      native.setWindowSize(masterFd, rows, cols);
    } catch {
      // the container is gone meanwhile
    }
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const u of undo.reverse()) u();
  };
  const done = new Promise<void>((resolve) => {
    native.receiveFd(consoleSocketFd, (fd) => {
      if (fd < 0) return resolve();
      if (closed) {
        closeSync(fd);
        return resolve();
      }
      masterFd = fd;
      const master = new (builtin('node:tty') as typeof import('node:tty')).ReadStream(fd);
      master.on('data', (chunk: Buffer) => onOutput(chunk));
      // EIO on the master means every slave end is closed: the container is gone. Its fd
      // number may be reused from then on: resizes stop.
      master.on('close', () => { masterFd = -1; resolve(); });
      master.on('error', () => resolve());
      undo.push(() => master.destroy());
      const input = user?.input;
      if (input?.isTTY && input.setRawMode && input.fd !== undefined) {
        // Raw as docker makes it: no output processing either, or the container's "\r\n" (its
        // pty already translates) would reach the screen as "\r\r\n" and a full-screen
        // program's bare "\n" (cursor down) as a carriage return too. Node's setRawMode(false)
        // restores the mode it saved, OPOST included.
        const setRaw = input.setRawMode.bind(input);
        setRaw(true);
        native.clearOutputProcessing(input.fd);
        const forward = (chunk: Buffer): void => { master.write(chunk); };
        input.on('data', forward);
        input.resume();
        undo.push(() => { input.off('data', forward); setRaw(false); input.pause(); });
      } else if (input) {
        const forward = (chunk: Buffer): void => { master.write(chunk); };
        input.on('data', forward);
        undo.push(() => { input.off('data', forward); });
      }
      const output = user?.output;
      if (output) {
        const follow = (): void => { if (output.rows && output.columns) resize(output.rows, output.columns); };
        output.on('resize', follow);
        undo.push(() => output.off('resize', follow));
        // The terminal may have changed size since the start (setting the same size is a no-op).
        if (!wanted) follow();
      }
      if (wanted) resize(...wanted);
    });
  });
  return { done, resize, close };
}
