/**
 * Rootless verbs (`kiln build`, `run`, `prune`…) started by an unprivileged user re-execute kiln
 * inside a user namespace plus mount namespace of its own, as `buildah unshare` and rootless
 * podman do. There kiln is uid 0 with the full map — 0 → the user, 1..N → the user's /etc/subuid
 * and /etc/subgid ranges — so the verb runs unchanged: it chowns to any mapped id (layer tars
 * record in-container owners), mounts overlays for stage views (userxattr), and starts containers
 * as nested namespaces. Mounts live in the new mount namespace only and vanish with it.
 *
 * The namespace is made by the native addon (clone with CLONE_NEWUSER|CLONE_NEWNS; the child
 * waits at a gate while this process writes the maps with newuidmap/newgidmap), not by spawning
 * unshare(1). This process stays as a thin parent: it forwards signals and exits with the
 * child's status. The child dies with it (PR_SET_PDEATHSIG), and so do its containers.
 */
import { nativeBinding } from '../../native/index.js';
import { constants as osConstants } from 'node:os';
import { KilnError } from '../errors/kilnError.js';
import { closeQuietly, drainNonBlocking, openGate, releaseGate, setupFailure } from './childHandshake.js';
import { lastCapability } from './capabilities.js';
import { currentUserName, subordinateIds, writeFullIdMaps } from './userNamespace.js';

/** Everything a terminal or a supervisor may send; SIGWINCH keeps a container's tty size right. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * Runs this same kiln command again inside the user's own user namespace and resolves with its
 * exit status. Without a subordinate range: undefined when `need` is 'if-mapped' (the caller
 * runs the verb as is), else a KilnError naming /etc/subuid — a single-id map (only the user as
 * root) cannot hold the other owners an image's files have. `storeRoot` is the store this user's
 * kiln uses, passed on as KILN_ROOT: inside, uid 0 would choose /var/lib/kiln.
 */
export async function rerunInOwnUserNamespace(verb: string, need: 'required' | 'if-mapped', storeRoot: string, extraEnv: Record<string, string> = {}): Promise<number | undefined> {
  const ids = subordinateIds();
  if ('missing' in ids) {
    if (need === 'if-mapped') return undefined;
    const name = currentUserName();
    throw new KilnError('ROOTLESS_NO_SUBIDS',
      `kiln ${verb} as an unprivileged user needs subordinate ids: ${ids.missing}. ` +
      `Add a range for ${name} (e.g. "${name}:100000:65536" in /etc/subuid and /etc/subgid, as ` +
      `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name} does). ` +
      `kiln does not fall back to a single-id map (only ${name} as root): files owned by other ids could not be created, so layers could not keep their owners; --isolation chroot works without them`);
  }
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot re-execute kiln: process.argv[1] (the CLI script) is unknown');
  const native = nativeBinding();
  // The marker only names the inner process's code cache (bin/kiln); privilege() asks the kernel.
  const env = { ...process.env, ...extraEnv, KILN_ROOT: storeRoot, KILN_REEXECUTED_IN_USER_NAMESPACE: '1' };
  const child = native.spawn({
    namespaces: { user: true, mount: true, pid: false, uts: false, ipc: false, net: false, cgroup: false },
    rootfs: '',
    uid: 0,
    gid: 0,
    groups: [],
    // Keep the user's supplementary groups (they may grant access to the context or kiln itself).
    setgroups: false,
    capabilities: ((1n << BigInt(lastCapability() + 1)) - 1n).toString(),
    lastCap: lastCapability(),
    noNewPrivileges: false,
    cwd: '',
    argv: [process.execPath, ...process.execArgv, script, ...process.argv.slice(2)],
    env: Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`),
    path: '',
    stdio: 'inherit',
    stdin: 'inherit',
  });
  // Watched from the start, so a child that gives up at a closed gate is reaped too.
  const exit = new Promise<number>((resolve) => {
    native.watch(child.pidfd, (code, sig) => resolve(sig > 0 ? 128 + sig : code));
  });
  let gated = true;
  const handlers: [NodeJS.Signals, () => void][] = [];
  try {
    try {
      await writeFullIdMaps(child.pid, ids);
    } catch (e) {
      throw new KilnError('ROOTLESS_ID_MAP', `cannot map ${ids.name}'s subordinate ids (/etc/subuid ${ids.subuid.start}:${ids.subuid.count}, ` +
        `/etc/subgid ${ids.subgid.start}:${ids.subgid.count}) into kiln's user namespace: ${(e as Error).message.trim()}`, { cause: e });
    }
    for (const sig of FORWARDED) {
      const h = (): void => { native.signal(child.pidfd, osConstants.signals[sig]); };
      process.on(sig, h);
      handlers.push([sig, h]);
    }
    openGate(child.gateFd, false);
    releaseGate(child.gateFd); // no cgroup to wait for
    gated = false;
    const code = await exit;
    const report = drainNonBlocking(child.errorFd);
    if (report !== '') throw setupFailure(report);
    return code;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    if (gated) {
      closeQuietly(child.gateFd); // the child gives up at a closed gate
      await exit;
    }
    closeQuietly(child.errorFd);
  }
}
