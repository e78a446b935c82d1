/**
 * `kiln build` run by root of the host moves into a mount namespace of its own before it does
 * anything else, so the stage views it mounts (read-only overlays of a stage's layers, see
 * steps/rootfsView.ts) live there: a kiln killed outright takes them with it, and the host's
 * mount table never shows them. The namespace's mounts are slaves of the host's: what the host
 * unmounts goes here too, and nothing mounted here goes out. (The rootless path gets the same
 * from the user and mount namespace it re-runs in, see ownUserNamespace.ts.)
 *
 * unshare(CLONE_NEWNS) moves only the calling thread, and the threads it starts afterwards.
 * Node's thread pool, which runs asynchronous file calls, starts on its first use: entered
 * before that, every thread that touches files is in the new namespace. That is checked — a
 * pool thread reads which namespace it is in — and where the pool started earlier (kiln run
 * from other code), or the kernel refuses, kiln stays in the host's namespace, where its views
 * are unmounted at exit and a killed kiln's by the next command (see store/scratch.ts).
 */
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { nativeBinding } from '../../native/index.js';

const OWN_NAMESPACE = '/proc/thread-self/ns/mnt';

/** Enters a mount namespace of kiln's own; false when kiln stays in the one it was started in. */
export async function enterOwnMountNamespace(): Promise<boolean> {
  const native = nativeBinding();
  const previous = openSync(OWN_NAMESPACE, 'r');
  try {
    try {
      native.unshareMountNamespace();
    } catch {
      return false; // refused (a seccomp profile, no CAP_SYS_ADMIN): views stay on the host, as before
    }
    const main = readlinkSync(OWN_NAMESPACE);
    if ((await readlink(OWN_NAMESPACE)) === main) return true;
    native.enterMountNamespace(previous);
    return false;
  } finally {
    closeSync(previous);
  }
}
