/**
 * The typed face of the native process starter (native/src/*.cc). It starts one process in
 * new namespaces exactly as the spec says; which mounts, devices, capabilities and limits a
 * container gets is decided by engine/runtime, not here. Beside it, small host mechanisms node
 * lacks or does slowly (xattrs, mounts, netlink, a directory listed with its lstat in one call).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeNamespaces {
  user?: boolean;
  mount?: boolean;
  pid?: boolean;
  uts?: boolean;
  ipc?: boolean;
  net?: boolean;
  /** Unshared by the child after the parent placed it in its cgroup, so the cgroup is its root. */
  cgroup?: boolean;
}

/** One mount, performed in order inside the new root before pivot_root. */
export interface NativeMount {
  source: string;
  /** Absolute path inside the container; resolved so that symlinks cannot leave the root. */
  target: string;
  fstype?: string;
  data?: string;
  /** ro nosuid nodev noexec strictatime relatime noatime */
  flags?: string[];
  bind?: boolean;
  /** Change the flags (and data) of the mount already at `target` (MS_REMOUNT). */
  remount?: boolean;
  recursive?: boolean;
  /** Bind mounts: remount read-only after binding. */
  readonly?: boolean;
  /** Create the mount point when missing. */
  create?: 'dir' | 'file';
  /** Tried when this mount is refused with EPERM/EACCES (e.g. sysfs in a user namespace). */
  fallback?: NativeMount;
}

export interface NativeDevice {
  path: string;
  /** 'c' (default) or 'b'. */
  type?: 'c' | 'b';
  mode: number;
  major: number;
  minor: number;
  /** Owner of the node made (default 0:0). */
  uid?: number;
  gid?: number;
  /** In a user namespace mknod is refused: bind-mount the host node instead. */
  bindFromHost?: boolean;
  hostPath?: string;
}

export interface NativeSpawnSpec {
  namespaces: NativeNamespaces;
  /** Host directory that becomes "/" (pivot_root). Empty: no new root. */
  rootfs: string;
  /** Mounted on `rootfs` first; `cwd` is where relative paths in `data` resolve. */
  rootMount?: { source: string; fstype: string; data: string; cwd?: string; /** Bind `source` (recursively) instead of mounting a filesystem. */ bind?: boolean };
  /**
   * No new root: chroot(2) into this host directory instead (after the mounts, which are then
   * none), creating the working directory inside it when missing. For chroot isolation.
   */
  chroot?: string;
  mounts?: NativeMount[];
  devices?: NativeDevice[];
  symlinks?: { target: string; path: string }[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  readonlyRootfs?: boolean;
  hostname?: string;
  uid: number;
  gid: number;
  groups: number[];
  /** False when setgroups is denied (user namespace with a single-id map). */
  setgroups: boolean;
  /** Decimal bit mask of capabilities kept (bit n = capability n). */
  capabilities: string;
  lastCap: number;
  noNewPrivileges: boolean;
  /** setrlimit before privileges drop; soft/hard decimal, "-1" unlimited; name is for messages. */
  rlimits?: { resource: number; soft: string; hard: string; name?: string }[];
  /** Written to /proc/self/oom_score_adj (reset to 0 unless asked otherwise). */
  oomScoreAdj?: number;
  /**
   * The reset to the default: where the kernel refuses it (a kiln without CAP_SYS_RESOURCE whose
   * minimum was raised by a privileged ancestor) the container keeps kiln's own adjustment.
   */
  oomScoreAdjOptional?: boolean;
  /**
   * A classic BPF seccomp program (struct sock_filter, 8 bytes each, as engine/runtime/seccomp.ts
   * compiles it), installed last before exec — or, without no_new_privileges, before the
   * capabilities are dropped (installing one needs either).
   */
  seccomp?: Buffer;
  cwd: string;
  /**
   * `--init`: exec this executable (a path inside the container, e.g. where the caller bound
   * kiln-init) as `INIT -- ARGV…` instead of argv itself; argv is looked up first so that a
   * missing command is reported as without it.
   */
  initPath?: string;
  argv: string[];
  env: string[];
  /** Search path for argv[0] (the container's PATH). */
  path: string;
  stdio: 'inherit' | 'pipe' | 'pty';
  stdin?: 'inherit' | 'null' | 'pipe';
  /**
   * A cgroup v2 directory (an open descriptor) to start the child in (clone3 CLONE_INTO_CGROUP);
   * `inCgroup` in the result says whether the kernel did. The descriptor stays the caller's.
   */
  cgroupFd?: number;
  /**
   * `kiln exec`: instead of starting a container, the child joins the namespaces (`namespaces`,
   * CLONE_NEW* flags) of the process `pidfd` names after the first gate byte, and forks the
   * process that goes on (as a child of the caller); `awaitJoined` returns it. Use with no new
   * namespaces and an empty rootfs.
   */
  join?: { pidfd: number; namespaces: number };
  /**
   * With stdio 'pty' (required then): after pivot_root the child opens `ptmx` (inside the new
   * root), makes the slave its controlling terminal and stdio, binds the slave onto `console`
   * (empty: nowhere), sets the window size when rows/cols are given, and sends the master back
   * over `consoleSocketFd`.
   */
  pty?: { ptmx: string; console: string; rows?: number; cols?: number };
  /** Done by the child right after the gate, before any mount (native/src/childNetwork.cc). */
  network?: NativeNetworkSpec;
  /**
   * The starter executable (starterExecutable()): the child shares the caller's memory until it
   * execs this, which reads the spec and sets the container up, instead of doing it in a copy of
   * the caller's whole address space. Not with a new user namespace nor with `join` (spawn
   * throws): the exec would come before the id maps, or the join needs a process of its own.
   * Where the addon cannot clone the starter into `cgroupFd` (machines other than x86-64), a
   * child given one is still a copy of the caller.
   */
  starter?: string;
}

/** The child's network set-up: join another namespace, or configure the interface the parent moved in. */
export interface NativeNetworkSpec {
  /** A descriptor of /proc/PID/ns/net to join (with namespaces.net false). */
  joinNetnsFd?: number;
  /** Address, up, default route (when a gateway is given). */
  interface?: { name: string; address: string; prefixLength: number; gateway?: string };
  /** Per-namespace sysctls, written best-effort. */
  sysctls?: { path: string; value: string }[];
}

export interface NativeChild {
  pid: number;
  pidfd: number;
  /**
   * Two bytes let the child go on: the first (after the id maps) into its set-up, the second
   * (after it is in its cgroup) out of it; closing instead makes the child give up.
   */
  gateFd: number;
  /** True when the child was started inside `cgroupFd`'s cgroup. */
  inCgroup: boolean;
  /** Read end of the setup-error pipe: "ERRNO\tEXIT\tmessage" when setup or exec failed. */
  errorFd: number;
  stdinFd?: number;
  stdoutFd?: number;
  stderrFd?: number;
  /** With stdio 'pty': the socket the terminal's master arrives on (see receiveFd). */
  consoleSocketFd?: number;
  /** With `join`: where the joining child reports the pid of the process it forked (see awaitJoined). */
  joinReportFd?: number;
}

interface NativeBinding {
  spawn(spec: NativeSpawnSpec): NativeChild;
  /**
   * Calls back once with (exitCode, signal) when the process exits; reaps it and closes the
   * pidfd. A process that is not the caller's child is not reaped: (-1, 0) when it exits.
   */
  watch(pidfd: number, onExit: (exitCode: number, signal: number) => void): void;
  /**
   * After the gate opened, for a child spawned with `join`: the pid and a pidfd of the process it
   * forked into the container (the caller's child), or null when the child failed first (its
   * report is on the error pipe). Reaps the joining child; closes both descriptors given.
   */
  awaitJoined(reportFd: number, childPidfd: number): { pid: number; pidfd: number } | null;
  /** A pidfd (close-on-exec) of a running process, or -1 when there is no such process. */
  pidfdOpen(pid: number): number;
  /** Returns false when the process has already exited. */
  signal(pidfd: number, signo: number): boolean;
  setWindowSize(fd: number, rows: number, cols: number): void;
  /**
   * Calls back once with the descriptor the peer sends over a unix socket (close-on-exec), or
   * -1 when the peer closed its end without sending one; closes the socket either way.
   */
  receiveFd(socketFd: number, onFd: (fd: number) => void): void;
  /** Turns off output processing (OPOST) on a terminal; restoring the terminal's saved mode turns it back on. */
  clearOutputProcessing(fd: number): void;
  /** An extended attribute of a path (symlinks not followed), or null when it has none. */
  getXattr(path: string, name: string): Buffer | null;
  /** Every extended attribute of a path (symlinks not followed), name → value; {} when none. */
  listXattrs(path: string): Record<string, Buffer>;
  /** mount(2) in kiln's own mount namespace; `flags` as in NativeMount. Throws (with `errno`) on failure. */
  mount(source: string, target: string, fstype: string, flags: string[], data: string): void;
  /** umount2(2), lazily with `detach`; false when nothing is mounted at `target`. */
  unmount(target: string, detach: boolean): boolean;
  /** bpf(BPF_PROG_LOAD) of eBPF instructions (8 bytes each); returns the program's descriptor (close-on-exec). */
  loadBpfProgram(type: number, instructions: Buffer, license: string): number;
  /** bpf(BPF_PROG_ATTACH) of a loaded program to a target (e.g. a cgroup directory's descriptor). */
  attachBpfProgram(targetFd: number, programFd: number, attachType: number, flags: number): void;
  /**
   * unshare(CLONE_NEWNS) of the calling thread, its mounts made slaves of the old namespace's:
   * threads started afterwards share the new namespace, threads started before keep the old one.
   */
  unshareMountNamespace(): void;
  /** setns(2) of the calling thread into the mount namespace an open descriptor names. */
  enterMountNamespace(fd: number): void;
  /** Creates the bridge unless it exists (with this fixed MAC), adds the address unless present, brings it up; its ifindex. */
  ensureBridge(name: string, mac: string, address: string, prefixLength: number, mtu: number): number;
  /** A veth pair: `hostName` up on bridge `masterIndex`, the peer created in process `peerPid`'s network namespace. */
  createVeth(hostName: string, peerName: string, peerPid: number, peerMac: string, masterIndex: number, mtu: number): void;
  /** False when there is no such link. */
  deleteLink(name: string): boolean;
  /** Whether nftables has the table (family: NFPROTO_*, e.g. 2 for ip). */
  nftTableExists(family: number, name: string): boolean;
  /** A socket bound (not listening, no SO_REUSEADDR) to the host port; port 0 picks a free one. Throws code EADDRINUSE when taken. */
  reservePort(proto: 'tcp' | 'udp', address: string, port: number): { fd: number; port: number };
  /** An exclusive, non-blocking flock: false when another holder has it. */
  tryLock(fd: number): boolean;
  /**
   * A directory's entries (no `.` or `..`) with their lstat: the names joined by NUL, `count` of
   * them, and ten numbers per entry in `stats` (mode, uid, gid, size, ino, dev, nlink, rdev,
   * mtimeMs, ctimeMs, as fs.Stats has them). An entry gone before its lstat is left out. Throws
   * (with `errno`, `syscall`, `path`) when the directory cannot be opened or read.
   */
  listDirectory(path: string): { names: string; count: number; stats: Float64Array };
}

/** The init executable built with the addon (kiln-init, static): bound into containers run with `--init`. */
export function initExecutable(): string {
  return join(packageRoot(), 'native', 'build', 'Release', 'kiln-init');
}

/** The container starter built with the addon (kiln-start, static): see NativeSpawnSpec.starter. */
export function starterExecutable(): string {
  return join(packageRoot(), 'native', 'build', 'Release', 'kiln-start');
}

let builtStarterPath: string | null | undefined;

/** The starter when it was built (an addon built before it had none: children are then copies of the caller). */
export function builtStarter(): string | undefined {
  if (builtStarterPath === undefined) {
    const path = starterExecutable();
    builtStarterPath = existsSync(path) ? path : null;
  }
  return builtStarterPath ?? undefined;
}

/** Walks up from this module to the kiln package root (works from dist/ and dist/bundle/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kiln') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('kiln package root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

const NATIVE_FUNCTIONS: readonly (keyof NativeBinding)[] = ['spawn', 'watch', 'signal', 'setWindowSize', 'receiveFd', 'clearOutputProcessing', 'getXattr', 'listXattrs', 'mount', 'unmount', 'loadBpfProgram', 'attachBpfProgram', 'unshareMountNamespace', 'enterMountNamespace',
  'ensureBridge', 'createVeth', 'deleteLink', 'nftTableExists', 'reservePort', 'tryLock', 'awaitJoined', 'pidfdOpen', 'listDirectory'];

let binding: NativeBinding | undefined;

export function nativeBinding(): NativeBinding {
  if (binding) return binding;
  const file = join(packageRoot(), 'native', 'build', 'Release', 'kiln_native.node');
  if (!existsSync(file)) {
    throw new Error(`native addon not built (${file} missing): run npm install (or npm run install) in the kiln checkout`);
  }
  const loaded = createRequire(import.meta.url)(file) as Partial<NativeBinding>;
  // The addon is built on install, not with the TypeScript: after a pull it can be older than
  // the code calling it. Say so, instead of failing later with "x is not a function".
  const missing = NATIVE_FUNCTIONS.filter((name) => typeof loaded[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(`native addon ${file} is older than this kiln (it lacks ${missing.join(', ')}): rebuild it with npm run install in the kiln checkout`);
  }
  binding = loaded as NativeBinding;
  return binding;
}
