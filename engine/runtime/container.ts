/**
 * Runs one container: a process in new namespaces on an overlayfs root, limited by a cgroup,
 * with docker's default mounts and capabilities. Used by `kiln run` and by RUN build steps.
 * Nothing is left behind afterwards: the mounts live only in the container's own mount
 * namespace (they vanish with its last process), and the cgroup and temp files are removed here.
 */
// The few small files of a start are written with sync calls: a thread-pool round trip per
// tiny operation costs more than the operation itself, and start-up time is what users feel.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomHex } from '../host/randomHex.js';
import { constants as osConstants } from 'node:os';
import { builtStarter, initExecutable, nativeBinding, type NativeChild, type NativeSpawnSpec } from '../../native/index.js';
import { KilnError } from '../errors/kilnError.js';
import { closeQuietly, drainNonBlocking, openGate, releaseGate, setupFailure } from './childHandshake.js';
import { capabilityMask, effectiveCapabilities, lastCapability, ownCapabilities } from './capabilities.js';
import { ContainerCgroup, type ResourceLimits } from './cgroups.js';
import { ALL_DEVICES, BUILD_DEVICE_RULES, DEFAULT_DEVICE_RULES } from './deviceRules.js';
import { deviceRule, type HostDevice } from './hostDevices.js';
import { overlayOptions, planMounts, removeMountStubs, TTY_GID, type ContainerMount } from './mounts.js';
import { earlierTeardowns, holdMountNamespace, releaseMountNamespace } from './mountTeardown.js';
import { prepareNetwork, type NetworkRequest, type PreparedNetwork } from './network/containerNetwork.js';
import type { NetworkMode } from './network/networkMode.js';
import { NetworkNamespacePool } from './network/namespacePool.js';
import type { PortBinding } from './network/ports.js';
import { seccompProgram, type SeccompSetting } from './seccomp.js';
import { containerRlimitsHere, type Rlimit } from './rlimits.js';
import { ownGroupMapped, writeIdMaps } from './userNamespace.js';
import { inUserNamespace, privilege } from '../host/privilege.js';
import { isKernelRefusal, kernelRefused, KERNEL_REFUSED_EXIT } from './isolation.js';
import { findProot, noTracedRoot, tracedArgv } from './tracedRoot.js';
import { relayTerminal, terminalSpec, type TerminalRelay, type UserTerminal } from './terminal.js';
import { processAlive } from '../host/processAlive.js';

export type { ContainerMount } from './mounts.js';
export type { ResourceLimits } from './cgroups.js';
export type { HostDevice } from './hostDevices.js';
export type { SeccompSetting } from './seccomp.js';
export type { Rlimit } from './rlimits.js';
export { setupFailure } from './childHandshake.js';
export { NetworkNamespacePool } from './network/namespacePool.js';

export interface ContainerSpec {
  /** Names the cgroup and temp files; random when absent. */
  id?: string;
  /**
   * An overlay of image layers with a writable upper dir, or a prepared directory (the copy
   * snapshotter's), bound as the root — or, with isolation 'chroot', entered with chroot(2).
   */
  rootfs: { kind?: 'overlay'; lowerDirs: string[] /* topmost first */; upperDir: string; workDir: string } | { kind: 'dir'; dir: string };
  /**
   * 'chroot': no namespace, no mount (where the kernel gives none): the process is chrooted into
   * `rootfs.dir` with docker's capabilities less SYS_CHROOT, no_new_privs and the seccomp
   * filter. Default: namespaces.
   */
  isolation?: 'namespaces' | 'chroot';
  /** Called right before the process is started. */
  beforeStart?: () => void;
  argv: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  /** A mode alone, or with published ports, DNS settings, extra hosts and names. */
  network: NetworkMode | NetworkRequest;
  /** Where a build's containers on the default bridge take turns in network namespaces (namespacePool.ts). */
  networkPool?: NetworkNamespacePool;
  mounts: ContainerMount[];
  limits?: ResourceLimits;
  /** Join what `kiln stats` reads and the freezer `kiln pause` uses, limits or not (kiln run's containers). */
  managed?: boolean;
  /** `--ulimit` values over the default limits (rlimits.ts). */
  ulimits?: Rlimit[];
  /** /proc/self/oom_score_adj of the container (default 0 whatever kiln's own is, where the kernel allows). */
  oomScoreAdj?: number;
  /** Default 'run': docker run's device allow-list; 'build': BuildKit's for RUN steps (no host console). */
  deviceDefaults?: 'run' | 'build';
  /** Host device nodes made in the container and added to its device allow-list (`--device`). */
  devices?: HostDevice[];
  readonlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** Run kiln-init (bound read-only at /dev/init) as PID 1, which runs argv (`--init`). */
  init?: boolean;
  /**
   * 'pipe': descriptors 1 and 2 are pipes kiln reads (to io.onStdout/onStderr, else its own
   * stdout and stderr) — never kiln's own descriptors; 'pty': a terminal made in the container.
   */
  stdio: 'pipe' | 'pty';
  /** Without a terminal: 'null' (default) is /dev/null, 'pipe' relays io.input (default kiln's stdin). */
  stdin?: 'null' | 'pipe';
  /** Default true: clear no_new_privs only when a caller really needs setuid binaries to work. */
  noNewPrivileges?: boolean;
  /** Default 'default': kiln's allow-list (seccomp.ts); 'unconfined' installs no filter; or a profile. */
  seccomp?: SeccompSetting;
  /**
   * BuildKit's `security.insecure` (RUN --security=insecure, when the build grants it): every
   * capability, no seccomp filter, every device, /proc and /sys unmasked, no no_new_privs.
   */
  privileged?: boolean;
  /** Default true: remove mount points the start created in the upper dir (for RUN layers). */
  removeMountStubs?: boolean;
  /**
   * Takes what is left to remove once the container's root is final (its cgroup and private
   * state dir) instead of the start waiting for it: a build's next step starts meanwhile, and
   * the build waits for these before it ends. Its PID 1 has exited, so the kernel has already
   * killed and reaped everything else in its PID namespace: nothing can still write its root.
   * Not with chroot isolation (no PID namespace): there the cgroup kills what the command left
   * before the start returns.
   */
  teardownBehind?: (rest: Promise<void>) => void;
}

/** A started container, for forwarding signals and resizing its terminal. */
export interface RunningContainer {
  readonly id: string;
  /** Host pid of the container's PID 1. */
  readonly pid: number;
  /** Its cgroup directories (none where it has no cgroup). */
  readonly cgroupDirs: readonly string[];
  /** Its address on a bridge network, and the ports published to the host. */
  readonly address?: string;
  readonly ports: readonly PortBinding[];
  /** Sends a signal to PID 1; false once it has exited. */
  signal(sig: NodeJS.Signals | number): boolean;
  resize(rows: number, cols: number): void;
}

export interface ContainerIO {
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
  /** Aborting kills the container (SIGKILL) and the promise resolves with 137. */
  signal?: AbortSignal;
  /** Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 received by kiln to the container. */
  forwardSignals?: boolean;
  onStart?(container: RunningContainer): void;
  /** With stdin 'pipe': what to relay to the container's descriptor 0 (default: kiln's stdin). */
  input?: NodeJS.ReadableStream;
  /** Called once the container's command was executed (a start that fails never calls it). */
  onExecuted?(): void;
  /** With stdio 'pty': the user's terminal to connect (raw mode while running); its size is the container terminal's. */
  terminal?: UserTerminal;
}

export interface ContainerResult {
  exitCode: number;
  /** Set when the kernel's OOM killer ended the container. */
  oomKilled: boolean;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function signalNumber(sig: NodeJS.Signals | number): number {
  if (typeof sig === 'number') return sig;
  const n = (osConstants.signals as Record<string, number>)[sig];
  if (n === undefined) throw new KilnError('BAD_SIGNAL', `unknown signal ${sig}`);
  return n;
}

function validate(spec: ContainerSpec): void {
  if (spec.argv.length === 0 || spec.argv[0] === '') throw new KilnError('BAD_SPEC', 'no command specified');
  if (!spec.cwd.startsWith('/')) throw new KilnError('BAD_SPEC', `the working directory '${spec.cwd}' is invalid, it needs to be an absolute path`);
  if (spec.hostname.length > 64) throw new KilnError('BAD_SPEC', `hostname "${spec.hostname}" is longer than 64 characters`);
}

function pathOf(env: readonly string[]): string {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i] as string;
    if (e.startsWith('PATH=')) return e.slice(5);
  }
  return DEFAULT_PATH;
}

/**
 * The start sequence: what the container may do, a private state dir, the network, the cgroup
 * and the mounts prepared; the child spawned and admitted (id maps, cgroup, interface), its
 * stdio connected; its command let run; its exit awaited. Whatever was taken is given back.
 */
export async function runContainer(spec: ContainerSpec, io: ContainerIO = {}): Promise<ContainerResult> {
  validate(spec);
  const native = nativeBinding();
  const id = spec.id ?? randomHex(16);
  const security = containerSecurity(spec);
  if (io.signal?.aborted) throw new KilnError('INTERRUPTED', 'interrupted before the container started');

  sweepAbandonedStateDirsOnce();
  const hold: StartHold = { state: mkdtempSync(join(stateRoot(), `${STATE_PREFIX}${process.pid}-`)), mountNamespace: -1, unclaimedConsoleSocket: -1, cleanups: [] };
  try {
    const { nativeSpec, network } = await prepareStart(spec, io, id, security, hold);
    spec.beforeStart?.();
    const started = spawnChild(native, nativeSpec, hold);
    await admitChild(started, spec, security, hold.cgroup, network);
    const exit = watchExit(native, started);
    const { done: streams, terminal } = attachStdio(started, spec, io, hold.cleanups);
    hold.unclaimedConsoleSocket = -1;
    const running: RunningContainer = {
      id,
      pid: started.pid,
      cgroupDirs: hold.cgroup?.dirs() ?? [],
      ...(network.address ? { address: network.address } : {}),
      ports: network.ports,
      signal: (sig) => !exit.exited() && native.signal(started.pidfd, signalNumber(sig)),
      resize: (rows, cols) => { terminal?.resize(rows, cols); },
    };
    const setupReport = letCommandRun(started, io, hold);
    relaySignals(io, running, hold.cleanups);
    io.onStart?.(running);
    const outcome = await containerOutcome(exit.code, started, teardownBehind(spec) ? undefined : hold.cgroup, streams, setupReport);
    hold.commandRan = true;
    return outcome;
  } finally {
    await releaseStart(hold, spec);
  }
}

type Native = ReturnType<typeof nativeBinding>;

/** What the container may do, from its spec and what kiln itself holds. */
interface ContainerSecurity {
  /** A user namespace of the container's own. */
  newUserNamespace: boolean;
  /** kiln runs in a user namespace of its own (a rootless build). */
  rootless: boolean;
  privileged: boolean;
  capabilities: string[];
  seccomp: Buffer | undefined;
  rlimits: ReturnType<typeof containerRlimitsHere>;
}

function containerSecurity(spec: ContainerSpec): ContainerSecurity {
  // An unprivileged kiln gives each container a user namespace of its own; root of kiln's own
  // user namespace (rootless build) nests the container's other namespaces in that one. Either
  // way the kernel's user-namespace rules apply: userxattr overlays, host device nodes bound.
  const newUserNamespace = privilege() === 'unprivileged' && spec.isolation !== 'chroot';
  const rootless = inUserNamespace();
  const privileged = spec.privileged ?? false;
  const own = ownCapabilities();
  const capabilities = (privileged ? effectiveCapabilities(['ALL']) : effectiveCapabilities(spec.capAdd, spec.capDrop)).filter((c) => own.has(c));
  const seccomp = seccompProgram(privileged ? 'unconfined' : spec.seccomp ?? 'default', capabilities);
  // Raising a limit above kiln's own takes CAP_SYS_RESOURCE of the host: without it (rootless)
  // the limits stay within kiln's own.
  const rlimits = containerRlimitsHere(spec.ulimits ?? [], privilege() === 'host-root' && own.has('SYS_RESOURCE'));
  return { newUserNamespace, rootless, privileged, capabilities, seccomp, rlimits };
}

/** What a start has taken so far: `releaseStart` gives all of it back, whatever happened. */
interface StartHold {
  /** The start's private dir: the root's mount point, the lower dirs' links, /etc files. */
  readonly state: string;
  cgroup?: ContainerCgroup;
  child?: NativeChild;
  mountNamespace: number;
  /** The terminal's socket until the relay takes it over. */
  unclaimedConsoleSocket: number;
  network?: PreparedNetwork;
  /** The command was executed (a start that failed half-way never was). */
  commandRan?: boolean;
  readonly cleanups: (() => void)[];
}

/** The network, the root, the cgroup and the mounts: everything the child is spawned with. */
async function prepareStart(spec: ContainerSpec, io: ContainerIO, id: string, security: ContainerSecurity, hold: StartHold): Promise<{ nativeSpec: NativeSpawnSpec; network: PreparedNetwork }> {
  const rootfs = join(hold.state, 'rootfs');
  mkdirSync(rootfs);
  for (const m of spec.mounts) {
    if (m.type === 'bind' && !existsSync(m.source)) {
      throw new KilnError('BAD_MOUNT', `bind source path does not exist: ${m.source}`);
    }
  }
  const network = await containerNetwork(spec, id, hold.state);
  hold.network = network;
  const rootMount = containerRootMount(spec.rootfs, security.rootless, join(hold.state, 'lowers'));
  const devices = spec.devices ?? [];
  const defaults = spec.deviceDefaults === 'build' ? BUILD_DEVICE_RULES : DEFAULT_DEVICE_RULES;
  const deviceRules = security.privileged ? ALL_DEVICES : [...defaults, ...devices.map(deviceRule)];
  // A uid kiln without delegation has no cgroup to give a chroot-isolated step (and says so in the README, not per step).
  if (spec.isolation !== 'chroot' || privilege() !== 'unprivileged') hold.cgroup = ContainerCgroup.create(id, { ...(spec.limits ? { limits: spec.limits } : {}), devices: deviceRules, managed: spec.managed ?? false });
  const plan = planMounts({
    userNamespace: security.rootless,
    ownNetwork: network.newNamespace,
    etcFiles: network.etc,
    user: spec.mounts,
    sourceIsDir: (s) => statSync(s).isDirectory(),
    // A container in kiln's own user namespace shares its map; a fresh one maps a single id.
    ttyGroupMapped: !security.rootless || (!security.newUserNamespace && ownGroupMapped(TTY_GID)),
    devices,
    cgroupViews: hold.cgroup?.views() ?? [],
    ...(spec.init ? { init: { source: initBinary(), target: INIT_PATH } } : {}),
  });
  const namespaced = namespacedSpec(spec, io, security, { rootfs, rootMount, network, plan, ...(hold.cgroup ? { cgroup: hold.cgroup } : {}) });
  return { nativeSpec: spec.isolation === 'chroot' ? chrootSpec(namespaced, spec) : namespaced, network };
}

/** The container's network; chroot isolation has no network namespace to make: the step uses the container's own network. */
async function containerNetwork(spec: ContainerSpec, id: string, etcDir: string): Promise<PreparedNetwork> {
  const ctx = { containerId: id, hostname: spec.hostname, etcDir };
  try {
    if (spec.isolation === 'chroot') return await prepareNetwork('host', ctx);
    if (spec.networkPool && NetworkNamespacePool.serves(spec.network, spec.privileged ?? false)) return await spec.networkPool.take(ctx);
    return await prepareNetwork(spec.network, ctx);
  } catch (e) {
    if (isKernelRefusal(e)) throw kernelRefused('the container\'s network (a bridge and its interfaces)', e, '--network host or --network none needs none');
    throw e;
  }
}

/** The native start of a container in new namespaces, from its spec and what was prepared for it. */
function namespacedSpec(
  spec: ContainerSpec,
  io: ContainerIO,
  security: ContainerSecurity,
  prepared: { rootfs: string; rootMount: NonNullable<NativeSpawnSpec['rootMount']>; network: PreparedNetwork; plan: ReturnType<typeof planMounts>; cgroup?: ContainerCgroup },
): NativeSpawnSpec {
  const { rootfs, rootMount, network, plan, cgroup } = prepared;
  const privileged = security.privileged;
  const starter = builtStarter();
  return {
    namespaces: { user: security.newUserNamespace, mount: true, pid: true, uts: true, ipc: true, net: network.newNamespace, cgroup: true },
    ...(network.native ? { network: network.native } : {}),
    rootfs,
    rootMount,
    mounts: plan.mounts,
    devices: plan.devices,
    symlinks: plan.symlinks,
    maskedPaths: privileged ? [] : plan.maskedPaths,
    readonlyPaths: privileged ? [] : plan.readonlyPaths,
    readonlyRootfs: spec.readonlyRootfs ?? false,
    hostname: spec.hostname,
    uid: spec.user.uid,
    gid: spec.user.gid,
    groups: spec.user.additionalGids,
    setgroups: true,
    capabilities: capabilityMask(security.capabilities),
    lastCap: lastCapability(),
    noNewPrivileges: !privileged && (spec.noNewPrivileges ?? true),
    rlimits: security.rlimits,
    // The default 0 is a reset the kernel may refuse (below a minimum a privileged ancestor set, for a
    // kiln without CAP_SYS_RESOURCE): the container then keeps kiln's own, as a rootless daemon's would.
    oomScoreAdj: spec.oomScoreAdj ?? 0,
    ...(spec.oomScoreAdj === undefined ? { oomScoreAdjOptional: true } : {}),
    ...(security.seccomp ? { seccomp: security.seccomp } : {}),
    cwd: spec.cwd,
    ...(spec.init ? { initPath: INIT_PATH } : {}),
    argv: spec.argv,
    env: spec.env,
    path: pathOf(spec.env),
    stdio: spec.stdio,
    stdin: spec.stdin ?? 'null',
    ...(spec.stdio === 'pty' ? { pty: terminalSpec(io.terminal) } : {}),
    ...(cgroup && cgroup.cloneFd >= 0 ? { cgroupFd: cgroup.cloneFd } : {}),
    // A new user namespace gets its id maps after the clone: its child cannot exec first.
    ...(!security.newUserNamespace && starter !== undefined ? { starter } : {}),
  };
}

/** Spawns the child, which waits at its gate; the hold takes its descriptors and mount namespace. */
function spawnChild(native: Native, nativeSpec: NativeSpawnSpec, hold: StartHold): NativeChild {
  let child: NativeChild;
  try {
    child = native.spawn(nativeSpec);
  } catch (e) {
    if (isKernelRefusal(e)) throw kernelRefused('new namespaces for a container', e, 'inside an unprivileged container, kiln build --isolation chroot (or auto) runs RUN steps without them; kiln run has no weaker isolation to fall back to');
    throw e;
  }
  hold.child = child;
  hold.unclaimedConsoleSocket = child.consoleSocketFd ?? -1;
  hold.mountNamespace = holdMountNamespace(child.pid);
  return child;
}

/**
 * The child waits at the gate twice: for the id maps before it sets up its root, and for its
 * cgroup before it runs anything of the container's — placed while it mounts. Its interface is
 * attached while it sets up its root (it configures it after the last gate).
 */
async function admitChild(child: NativeChild, spec: ContainerSpec, security: ContainerSecurity, cgroup: ContainerCgroup | undefined, network: PreparedNetwork): Promise<void> {
  let setgroups = true;
  if (security.newUserNamespace) setgroups = (await writeIdMaps(child.pid)).setgroups;
  // The primary group is always listed (docker semantics); only other groups need setgroups().
  if (!setgroups && spec.user.additionalGids.some((g) => g !== spec.user.gid)) {
    throw new KilnError('ROOTLESS', 'supplementary groups need a subordinate gid range (/etc/subgid and newgidmap) when kiln is not root');
  }
  // The child mounts its root once through this gate: an earlier RUN's upper dir may be one of
  // its lower dirs, which overlayfs must not find still in use by that container's mounts. Their
  // teardown (an RCU grace period) overlaps everything of this start before the gate.
  await earlierTeardowns();
  openGate(child.gateFd, setgroups);
  cgroup?.admit(child.pid, child.inCgroup);
  await network.attach(child.pid);
}

/** The exit status of PID 1 (128+signal when killed), and whether it has come. */
function watchExit(native: Native, child: NativeChild): { code: Promise<number>; exited(): boolean } {
  let exited = false;
  const code = new Promise<number>((resolve) => {
    native.watch(child.pidfd, (status, sig) => {
      exited = true;
      resolve(sig > 0 ? 128 + sig : status);
    });
  });
  return { code, exited: () => exited };
}

/**
 * Opens the last gate: the child runs the command. The error pipe closes at exec: reading it to
 * its end (with `onExecuted`) tells a started command from a failed start.
 */
function letCommandRun(child: NativeChild, io: ContainerIO, hold: StartHold): Promise<string> | undefined {
  releaseGate(child.gateFd);
  hold.child = { ...child, gateFd: -1 };
  const setupReport = io.onExecuted ? readSetupReport(child.errorFd, io.onExecuted) : undefined;
  if (setupReport) hold.child = { ...hold.child, errorFd: -1 };
  return setupReport;
}

/** An abort kills the container; with `forwardSignals`, kiln's own signals go to it. */
function relaySignals(io: ContainerIO, running: RunningContainer, cleanups: (() => void)[]): void {
  if (io.signal) {
    const onAbort = (): void => { running.signal('SIGKILL'); };
    if (io.signal.aborted) onAbort(); // aborted while the start was being prepared
    else {
      io.signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => io.signal?.removeEventListener('abort', onAbort));
    }
  }
  if (io.forwardSignals) {
    for (const sig of FORWARDED_SIGNALS) {
      const handler = (): void => { running.signal(sig); };
      process.on(sig, handler);
      cleanups.push(() => process.off(sig, handler));
    }
  }
}

/** The exit code once PID 1 exits and its output is read, or the failed start's report as an error. */
async function containerOutcome(exit: Promise<number>, child: NativeChild, cgroup: ContainerCgroup | undefined, streams: Promise<void>, setupReport: Promise<string> | undefined): Promise<ContainerResult> {
  const exitCode = await exit;
  const oomKilled = exitCode === 137 && cgroup !== undefined && (await cgroup.oomKilled());
  // Everything else in the PID namespace dies with PID 1; the cgroup sweep makes sure (here,
  // or behind the caller: see ContainerSpec.teardownBehind).
  if (cgroup) await cgroup.destroy();
  await streams;
  const report = setupReport ? await setupReport : drainNonBlocking(child.errorFd);
  if (report !== '') throw setupFailure(report);
  return { exitCode, oomKilled };
}

/** Gives back what the start took, whether the container ran or the start failed half-way. */
async function releaseStart(hold: StartHold, spec: ContainerSpec): Promise<void> {
  if (hold.mountNamespace >= 0) releaseMountNamespace(hold.mountNamespace);
  for (const c of hold.cleanups.reverse()) c();
  if (hold.child) {
    if (hold.child.gateFd >= 0) closeQuietly(hold.child.gateFd); // the child gives up at a closed gate
    closeQuietly(hold.child.errorFd);
  }
  if (hold.unclaimedConsoleSocket >= 0) closeQuietly(hold.unclaimedConsoleSocket);
  // Behind the caller only once PID 1 was seen to exit: a start that failed half-way may have a
  // child still alive, killed with its cgroup before its network namespace is given back.
  const behind = hold.commandRan === true ? teardownBehind(spec) : undefined;
  if (hold.cgroup && !behind) await hold.cgroup.destroy().catch(() => undefined);
  await hold.network?.release({ commandRan: hold.commandRan ?? false }).catch(() => undefined); // what is left, the next kiln sweeps
  if ((spec.removeMountStubs ?? true) && spec.rootfs.kind !== 'dir') {
    const targets = ['/proc', '/dev', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', ...spec.mounts.map((m) => m.target)];
    try {
      removeMountStubs(spec.rootfs.upperDir, spec.rootfs.lowerDirs, targets);
    } catch {
      // best effort: a stub left behind is an empty file or directory in the layer
    }
  }
  if (!behind) {
    rmSync(hold.state, { recursive: true, force: true });
    return;
  }
  // After the caller's next turn: the step's layer is taken first.
  behind(new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
    await hold.cgroup?.destroy().catch(() => undefined); // what is left, the next kiln sweeps
    rmSync(hold.state, { recursive: true, force: true });
  }));
}

/**
 * Where the rest of a container's teardown may go behind the caller: only a container with a PID
 * namespace of its own, whose PID 1's exit the kernel completes only once everything else in it
 * is dead. A chroot-isolated step's background processes outlive its command: the cgroup kills
 * them before the caller reads the root.
 */
function teardownBehind(spec: ContainerSpec): ContainerSpec['teardownBehind'] {
  return spec.isolation === 'chroot' ? undefined : spec.teardownBehind;
}

/** The root's mount: an overlay of the layers, or a bind of a prepared directory. */
function containerRootMount(root: ContainerSpec['rootfs'], rootless: boolean, links: string): NonNullable<NativeSpawnSpec['rootMount']> {
  if (root.kind === 'dir') return { source: root.dir, fstype: '', data: '', bind: true };
  const overlay = overlayOptions(root.lowerDirs, root.upperDir, root.workDir, rootless, links);
  if (overlay.links) {
    mkdirSync(links);
    for (const [name, target] of overlay.links) symlinkSync(target, join(links, name));
  }
  return { source: 'overlay', fstype: 'overlay', data: overlay.data, ...(overlay.cwd ? { cwd: overlay.cwd } : {}) };
}

/**
 * chroot isolation: the same process start with no namespace and nothing mounted (the prepared
 * root already holds what mounts would bring), chroot(2) into the root, and SYS_CHROOT dropped
 * so the step cannot chroot its way out again.
 */
function chrootSpec(namespaced: NativeSpawnSpec, spec: ContainerSpec): NativeSpawnSpec {
  if (spec.rootfs.kind !== 'dir') throw new KilnError('BAD_ROOTFS', 'chroot isolation needs a prepared root directory (the copy snapshotter)');
  if (privilege() === 'unprivileged') return tracedSpec(namespaced, spec, spec.rootfs.dir);
  const privileged = spec.privileged ?? false;
  const own = ownCapabilities();
  const wanted = privileged ? effectiveCapabilities(['ALL']) : effectiveCapabilities(spec.capAdd, spec.capDrop);
  const capabilities = wanted.filter((c) => own.has(c) && c !== 'SYS_CHROOT');
  const seccomp = seccompProgram(privileged ? 'unconfined' : spec.seccomp ?? 'default', capabilities);
  // No /proc of its own under chroot: the score stays the one kiln runs with (in a container, that one's).
  const { rootMount: _root, cgroupFd: _fd, hostname: _host, seccomp: _filter, network: _net, oomScoreAdj: _adj, oomScoreAdjOptional: _optional, ...rest } = namespaced;
  return {
    ...rest,
    namespaces: { user: false, mount: false, pid: false, uts: false, ipc: false, net: false, cgroup: false },
    rootfs: '',
    chroot: spec.rootfs.dir,
    mounts: [], devices: [], symlinks: [], maskedPaths: [], readonlyPaths: [],
    readonlyRootfs: false,
    capabilities: capabilityMask(capabilities),
    ...(seccomp ? { seccomp } : {}),
  };
}

/**
 * chroot isolation for a kiln that may not chroot (no capability, no user namespace): the step
 * runs under proot (tracedRoot.ts) as kiln's own uid, no namespace, no capability, kiln's
 * seccomp filter on top of the container's.
 */
function tracedSpec(namespaced: NativeSpawnSpec, spec: ContainerSpec, root: string): NativeSpawnSpec {
  const proot = findProot();
  const uid = process.getuid?.() ?? 0;
  if (proot === undefined) throw noTracedRoot(uid);
  const seccomp = seccompProgram(spec.seccomp ?? 'default', []);
  const { rootMount: _root, cgroupFd: _fd, hostname: _host, seccomp: _filter, network: _net, oomScoreAdj: _adj, oomScoreAdjOptional: _optional, initPath: _init, ...rest } = namespaced;
  return {
    ...rest,
    namespaces: { user: false, mount: false, pid: false, uts: false, ipc: false, net: false, cgroup: false },
    rootfs: '',
    mounts: [], devices: [], symlinks: [], maskedPaths: [], readonlyPaths: [],
    readonlyRootfs: false,
    uid, gid: process.getgid?.() ?? 0, groups: [], setgroups: false,
    // Nothing to drop: the uid holds no capability, and may not shrink its bounding set (CAP_SETPCAP).
    capabilities: capabilityMask(effectiveCapabilities(['ALL'])),
    noNewPrivileges: true,
    cwd: '',
    argv: tracedArgv(proot, root, spec.cwd, spec.user, spec.argv),
    ...(seccomp ? { seccomp } : {}),
  };
}

const STATE_PREFIX = 'kiln-ctr-';
/** Where `--init` finds its init in the container: the memory-backed /dev, so the image's files are untouched. */
const INIT_PATH = '/dev/init';

function initBinary(): string {
  const path = initExecutable();
  if (!existsSync(path)) throw new KilnError('NO_INIT', `--init needs ${path}, which is built with the native addon: run npm run install in the kiln checkout`, { exitCode: 125 });
  return path;
}
const TMPFS_MAGIC = 0x01021994;
const SHARED_MEMORY_DIR = '/dev/shm';
let chosenStateRoot: string | undefined;

/**
 * Where a start keeps its few files (hosts, hostname, resolv.conf, the root's mount point): a
 * memory file system when the host has one at /dev/shm, since each of the dozen creates and
 * removes of a start waits on the disk's journal otherwise; the temp dir if not.
 */
function stateRoot(): string {
  if (chosenStateRoot !== undefined) return chosenStateRoot;
  let root = tmpdir();
  try {
    if (statfsSync(SHARED_MEMORY_DIR).type === TMPFS_MAGIC) root = SHARED_MEMORY_DIR;
  } catch {
    // no /dev/shm here
  }
  chosenStateRoot = root;
  return root;
}

let sweptStateDirs = false;

/** A kiln process sweeps when it starts its first container: what it leaves itself, it removes. */
function sweepAbandonedStateDirsOnce(): void {
  if (sweptStateDirs) return;
  sweptStateDirs = true;
  sweepAbandonedStateDirs();
}

/** Temp dirs of starts whose kiln process was killed outright (SIGKILL skips `finally`). */
export function sweepAbandonedStateDirs(): void {
  let names: string[];
  try {
    names = readdirSync(stateRoot());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(STATE_PREFIX)) continue;
    const pid = Number(name.slice(STATE_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    try {
      rmSync(join(stateRoot(), name), { recursive: true, force: true });
    } catch {
      // another user's (a root kiln's, seen by a rootless one): not ours to remove
    }
  }
}

/** node:net loads only for the stdio that needs it (`kiln run` with its terminal does not). */
const builtin = createRequire(import.meta.url);

/**
 * Reads the error pipe as it is written (it then belongs to the stream, which closes it): at its
 * end, a report means the start failed; none means the command was executed — `onExecuted`.
 */
function readSetupReport(errorFd: number, onExecuted: () => void): Promise<string> {
  const pipe = new (builtin('node:net') as typeof import('node:net')).Socket({ fd: errorFd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  pipe.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    const done = (): void => {
      const report = Buffer.concat(chunks).toString('utf8');
      if (report === '') onExecuted();
      resolve(report);
    };
    pipe.once('close', done);
    pipe.on('error', () => undefined);
  });
}

/**
 * Connects the child's pipes or terminal; `done` resolves when its output has been read to the
 * end. Registers in `cleanups` what undoes the connection.
 */
function attachStdio(child: NativeChild, spec: ContainerSpec, io: ContainerIO, cleanups: (() => void)[]): { done: Promise<void>; terminal?: TerminalRelay } {
  const done: Promise<void>[] = [];
  const sink = (which: 'stdout' | 'stderr'): ((chunk: Buffer) => void) => {
    const cb = which === 'stdout' ? io.onStdout : io.onStderr;
    if (cb) return cb;
    const out = which === 'stdout' ? process.stdout : process.stderr;
    return (chunk) => { out.write(chunk); };
  };
  const readPipe = (fd: number | undefined, which: 'stdout' | 'stderr'): void => {
    if (fd === undefined) return;
    const sock = new (builtin('node:net') as typeof import('node:net')).Socket({ fd, readable: true, writable: false });
    const cb = which === 'stdout' ? io.onStdout : io.onStderr;
    // Into kiln's own stream with back-pressure: a slow reader of kiln's output slows the
    // container's writes instead of filling kiln's memory.
    if (cb) sock.on('data', cb);
    else {
      const out = which === 'stdout' ? process.stdout : process.stderr;
      // kiln's stream closed (`kiln run … | head -1`): so is the container's, whose next write
      // fails (EPIPE, SIGPIPE) as it would have written there itself.
      const broken = (): void => { sock.destroy(); };
      out.once('error', broken);
      sock.on('close', () => out.off('error', broken));
      sock.pipe(out, { end: false });
    }
    done.push(new Promise((resolve) => { sock.on('close', () => resolve()); sock.on('error', () => resolve()); }));
  };
  let terminal: TerminalRelay | undefined;
  if (spec.stdio === 'pipe') {
    readPipe(child.stdoutFd, 'stdout');
    readPipe(child.stderrFd, 'stderr');
    if (child.stdinFd !== undefined) cleanups.push(relayInput(child.stdinFd, io.input ?? process.stdin));
  } else if (spec.stdio === 'pty' && child.consoleSocketFd !== undefined) {
    const relay = relayTerminal(child.consoleSocketFd, io.terminal, sink('stdout'));
    done.push(relay.done);
    cleanups.push(() => relay.close());
    terminal = relay;
  }
  return { done: Promise.all(done).then(() => undefined), ...(terminal ? { terminal } : {}) };
}

/**
 * Copies `input` into the container's stdin pipe, closing it at the input's end (as docker's
 * attach does for -i). Returns what stops the copy (the container may exit first).
 */
function relayInput(fd: number, input: NodeJS.ReadableStream): () => void {
  const pipe = new (builtin('node:net') as typeof import('node:net')).Socket({ fd, readable: false, writable: true });
  pipe.on('error', () => { input.unpipe(pipe); }); // EPIPE: the container closed its stdin
  input.pipe(pipe);
  return () => {
    input.unpipe(pipe);
    pipe.destroy();
    if (input === process.stdin) process.stdin.pause();
  };
}
