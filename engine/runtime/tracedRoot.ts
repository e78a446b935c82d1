/**
 * chroot isolation where kiln may not even chroot: a uid with no capability and no user namespace
 * (an unprivileged CI container's user, docker's default seccomp profile refusing CLONE_NEWUSER).
 * The step's root is then given by PRoot (Debian package proot), which traces the step with
 * ptrace — allowed under docker's default profile — and rewrites every path it names into the
 * prepared root, as udocker and proot-based CI runners do; its -0 (or -i UID:GID) makes the
 * step see the image's user while the files stay kiln's, their image owners kept by kiln in
 * owner ledgers (store/ownerLedger.ts). It is no security boundary: the step can do whatever
 * kiln's uid may in its container, which the README's "Where it runs" says.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { KERNEL_REFUSED_EXIT } from './isolation.js';

/** The device nodes a step's /dev needs, bound from the container kiln runs in. */
const DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];

/** The proot on PATH, or undefined. */
export function findProot(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, 'proot');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The one line for a uid that can give a RUN step no root at all here. */
export function noTracedRoot(uid: number): KilnError {
  return new KilnError('KERNEL_REFUSED', `a RUN step as uid ${uid} with no user namespace and no capability (chroot refused) needs proot to give it the image's root, and there is none on PATH: install proot (Debian package proot) in the job's image, or run the job as root in its container`, { exitCode: KERNEL_REFUSED_EXIT });
}

/** The argv that runs `argv` in `root` under proot, as the image's `user`, in `cwd`. */
export function tracedArgv(proot: string, root: string, cwd: string, user: { uid: number; gid: number }, argv: readonly string[]): string[] {
  const identity = user.uid === 0 && user.gid === 0 ? ['-0'] : ['-i', `${user.uid}:${user.gid}`];
  const devices = DEVICES.filter((d) => existsSync(d)).flatMap((d) => ['-b', d]);
  return [proot, ...identity, '-r', root, '-w', cwd, ...devices, ...argv];
}
