/**
 * Container mounts torn down behind kiln's back. Kiln holds each container's mount namespace
 * while it runs, so the kernel does not unmount everything on PID 1's way out (an unmount waits
 * for an RCU grace period, and the exit is reported only after it); the namespace goes when kiln
 * closes its descriptor, on a thread-pool thread. Whoever mounts an overlay over a dir an
 * earlier container wrote (the next RUN, a stage view) waits for those teardowns first.
 */
import { close, openSync } from 'node:fs';

/**
 * Opens the (still gated) child's mount namespace. With kiln holding it, the container's mounts
 * are not torn down on PID 1's way out — an unmount waits for an RCU grace period, and the kernel
 * does it before it reports the exit — but when kiln closes the descriptor, on a thread-pool
 * thread, after it has seen the exit. -1 when it cannot be opened: then PID 1's exit does it.
 */
export function holdMountNamespace(pid: number): number {
  try {
    return openSync(`/proc/${pid}/ns/mnt`, 'r');
  } catch {
    return -1;
  }
}

/** Mount namespaces of exited containers still being torn down. */
const teardowns = new Set<Promise<void>>();

export function releaseMountNamespace(fd: number): void {
  const done = new Promise<void>((resolve) => close(fd, () => resolve()));
  teardowns.add(done);
  void done.then(() => teardowns.delete(done));
}

/**
 * A new container waits until the mounts of earlier ones are gone: a RUN's upper dir becomes the
 * next step's lower dir, which overlayfs must not find still in use by the old mount.
 */
export async function earlierTeardowns(): Promise<void> {
  while (teardowns.size > 0) await Promise.all([...teardowns]);
}
