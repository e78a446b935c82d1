/**
 * How RUN steps (and `kiln run`) are isolated, chosen once per command and consulted by the RUN
 * step executor:
 *
 * - 'namespaces': root of the host — new mount, PID, UTS, IPC (and network) namespaces, a
 *   pivot_root into the step's root, a cgroup, docker's capabilities and seccomp filter.
 * - 'rootless': an unprivileged user with subordinate ids — the same, nested in kiln's own
 *   user namespace (see ownUserNamespace.ts).
 * - 'chroot': where the kernel gives no namespace (an unprivileged CI container: docker's
 *   default seccomp profile refuses clone with CLONE_NEW*, unshare and mount), as buildah's
 *   chroot isolation and kaniko run steps: the step's root is a prepared directory
 *   (copy snapshotter), entered with chroot(2), privileges dropped. What is lost is in the
 *   README ("Where it runs").
 *
 * `auto` (the default; `--isolation` or KILN_ISOLATION say otherwise) takes the strongest the
 * kernel allows and, when that is not the strongest there is, says once on one line which it
 * took and why.
 */
import { KilnError } from '../errors/kilnError.js';
import { privilege } from '../host/privilege.js';
import { builtStarter, nativeBinding } from '../../native/index.js';
import { closeQuietly } from './childHandshake.js';
import { ownCapabilities } from './capabilities.js';
import { findProot } from './tracedRoot.js';
import { writeStderr } from '../host/standardStreams.js';

export type Isolation = 'namespaces' | 'rootless' | 'chroot';
export type IsolationRequest = 'auto' | Isolation;

export const ISOLATION_REQUESTS: readonly IsolationRequest[] = ['auto', 'namespaces', 'rootless', 'chroot'];

/** Exit status of a command the kernel refused an isolation feature (sysexits' EX_OSERR). */
export const KERNEL_REFUSED_EXIT = 71;

/** The request a flag value (or KILN_ISOLATION) names; a usage error for anything else. */
export function parseIsolation(text: string | undefined, source: string): IsolationRequest {
  const value = (text ?? 'auto').trim().toLowerCase();
  if (value === '' || value === 'default') return 'auto';
  if ((ISOLATION_REQUESTS as readonly string[]).includes(value)) return value as IsolationRequest;
  throw new KilnError('USAGE', `invalid ${source} "${text}": expected auto, namespaces, rootless or chroot`, { exitCode: 2 });
}

let chosen: { isolation: Isolation; reason: string } | undefined;

/** Why the isolation settled is what it is ('' before anything was settled). */
export function isolationReason(): string {
  return chosen?.reason ?? '';
}

let pending: IsolationRequest = 'auto';

/** Root of the host asked for `request` (auto or namespaces): settled at the first RUN step. */
export function askIsolation(request: IsolationRequest): void {
  pending = request;
}

export const CHROOT_FALLBACK = 'RUN steps run chrooted in a copied root, without namespaces or cgroup (see README "Where it runs")';

/**
 * The isolation RUN steps get: what the CLI settled, else (root of the host) namespaces when the
 * kernel gives them — asked once, with one clone — and with `auto` chroot when it does not.
 */
export function resolveIsolation(): Promise<Isolation> {
  if (chosen) return Promise.resolve(chosen.isolation);
  // RUN steps of parallel stages ask at once: one probe answers them all (and auto's fallback is said once).
  return (probing ??= probeIsolation().finally(() => { probing = undefined; }));
}

let probing: Promise<Isolation> | undefined;

async function probeIsolation(): Promise<Isolation> {
  if (privilege() !== 'host-root') {
    settleIsolation(privilege() === 'namespace-root' ? 'rootless' : 'chroot', 'as started', false);
    return currentIsolation();
  }
  const refused = await namespacesRefused();
  if (refused === undefined) settleIsolation('namespaces', 'the kernel gives them', false);
  else if (pending === 'namespaces') {
    throw new KilnError('KERNEL_REFUSED', `the kernel refused new namespaces for RUN steps (${refused}): --isolation chroot works here`, { exitCode: KERNEL_REFUSED_EXIT });
  } else settleIsolation('chroot', `the kernel refused new namespaces (${refused}); ${CHROOT_FALLBACK}`, true);
  return currentIsolation();
}

/** What this command settled on so far; namespaces (or rootless) when nothing was settled yet. */
export function currentIsolation(): Isolation {
  if (chosen) return chosen.isolation;
  return privilege() === 'host-root' ? 'namespaces' : privilege() === 'namespace-root' ? 'rootless' : 'chroot';
}

/** Records the choice; with `say`, prints it once on one line (auto fell back to something weaker). */
export function settleIsolation(isolation: Isolation, reason: string, say: boolean): void {
  chosen = { isolation, reason };
  if (say) writeStderr(`kiln: isolation ${isolation}: ${reason}\n`);
}

/**
 * Why `kiln run` can make no container here, decided before anything is made (network, cgroup,
 * record); undefined when it can. Root needs CAP_SYS_ADMIN for any namespace (docker's default
 * capabilities withhold it), read from its own status; any other uid asks the kernel with one
 * clone of a user namespace, as a container start would.
 */
export async function containerNamespacesRefused(): Promise<string | undefined> {
  const who = privilege();
  if (who === 'namespace-root') return undefined;
  if (who === 'host-root') {
    return ownCapabilities().has('SYS_ADMIN') ? undefined : 'kiln holds no CAP_SYS_ADMIN, which every new namespace needs';
  }
  return namespacesRefused(true);
}

/** One line for `kiln run` where no container can be made: what was refused, and what works here. */
export function containerRefused(refused: string): KilnError {
  const traced = privilege() === 'host-root' || findProot() !== undefined;
  const build = traced ? 'kiln build works here (--isolation chroot, which auto picks)' : 'kiln build works here as root, or with proot installed (--isolation chroot, which auto picks)';
  return new KilnError('KERNEL_REFUSED', `kiln run needs new namespaces for a container and the kernel refused them here (${refused}): kiln run has no weaker isolation to fall back to; run it where the job's container allows namespaces, while ${build}`, { exitCode: KERNEL_REFUSED_EXIT });
}

/** Why no namespace can be made here, when the kernel says so at a clone; undefined when one can. */
export async function namespacesRefused(user = false): Promise<string | undefined> {
  const native = nativeBinding();
  let child;
  try {
    // A child in the namespaces a RUN step gets; it is never let through its gate (it exits at
    // once), so this costs one clone — and, without a user namespace, an exec of the starter
    // rather than a copy of kiln.
    const starter = user ? undefined : builtStarter();
    child = native.spawn({
      namespaces: { user, mount: true, pid: true, uts: true, ipc: true, net: false, cgroup: false },
      rootfs: '', uid: 0, gid: 0, groups: [], setgroups: false, capabilities: '0', lastCap: 0,
      noNewPrivileges: true, cwd: '', argv: ['/'], env: [], path: '', stdio: 'inherit', stdin: 'null',
      ...(starter !== undefined ? { starter } : {}),
    });
  } catch (e) {
    return kernelMessage(e);
  }
  await new Promise<void>((resolve) => {
    native.watch(child.pidfd, () => resolve());
    closeQuietly(child.gateFd);
  });
  closeQuietly(child.errorFd);
  return undefined;
}

/** "clone: Operation not permitted" from an addon error (its message already names the call). */
export function kernelMessage(e: unknown): string {
  return (e as Error).message;
}

/** Whether an addon error is the kernel (or a seccomp profile) refusing, not a bug. */
export function isKernelRefusal(e: unknown): boolean {
  const errno = (e as { errno?: unknown }).errno;
  // EPERM, EACCES: refused (seccomp, no capability); ENOSPC/EUSERS: namespace limits; EINVAL: a flag this kernel lacks.
  return typeof errno === 'number' && [1, 13, 28, 87, 22, 38].includes(errno);
}

/** One line for a kernel refusal: what was refused, and which isolation works here. */
export function kernelRefused(what: string, e: unknown, instead: string): KilnError {
  return new KilnError('KERNEL_REFUSED', `the kernel refused ${what} (${kernelMessage(e)}): ${instead}`, { exitCode: KERNEL_REFUSED_EXIT, cause: e });
}
