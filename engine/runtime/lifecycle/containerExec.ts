/**
 * `kiln exec`: a process started inside a running container with no more than the container's
 * own — its namespaces (joined through a pidfd of its PID 1, by the addon's joining child), its
 * cgroups (so its device allow-list and limits), its capabilities, no_new_privs and seccomp
 * filter as the container was started with, a user resolved in the container's /etc/passwd —
 * and no descriptor of kiln's: its standard streams are pipes (or a terminal made in the
 * container's devpts) that kiln relays. Its exit status is returned.
 */
import { closeSync, constants, openSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBinding, type NativeChild, type NativeSpawnSpec } from '../../../native/index.js';
import { KilnError } from '../../errors/kilnError.js';
import { capabilityMask, effectiveCapabilities, lastCapability, ownCapabilities } from '../capabilities.js';
import { closeQuietly, drainNonBlocking, openGate, releaseGate, setupFailure } from '../childHandshake.js';
import type { ContainerSpec } from '../container.js';
import { privilege } from '../../host/privilege.js';
import { containerRlimitsHere } from '../rlimits.js';
import { seccompProgram } from '../seccomp.js';
import { relayTerminal, terminalSpec, type UserTerminal } from '../terminal.js';
import { v2DirOf } from './containerCgroupDirs.js';
import { relayPipes } from './stdioRelay.js';
import { writeStderr, writeStdout } from '../../host/standardStreams.js';

const NAMESPACES: [string, number][] = [
  ['user', 0x10000000], ['mnt', 0x00020000], ['pid', 0x20000000], ['uts', 0x04000000], ['ipc', 0x08000000], ['net', 0x40000000], ['cgroup', 0x02000000],
];

export interface ExecRequest {
  argv: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  /** Relay kiln's stdin (else the process gets /dev/null). */
  interactive: boolean;
}

export interface ExecIO {
  terminal?: UserTerminal;
  input?: NodeJS.ReadableStream;
  onStart?(signal: (sig: number) => void): void;
}

/** The CLONE_NEW* flags of the namespaces `pid` is in that this process is not. */
export function namespacesToJoin(pid: number): number {
  let flags = 0;
  for (const [name, flag] of NAMESPACES) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/${name}`) !== readlinkSync(`/proc/self/ns/${name}`)) flags |= flag;
    } catch {
      // a namespace type this kernel does not have
    }
  }
  return flags;
}

/** The container's cgroups: its v2 directory (to clone into) and its v1 ones (to join). */
function cgroupPlacement(dirs: readonly string[]): { v2?: string; v1: string[] } {
  const v2 = v2DirOf(dirs);
  return { ...(v2 !== undefined ? { v2 } : {}), v1: dirs.filter((d) => d !== v2) };
}

/** The PATH of an environment (docker's default when it has none). */
function pathOf(env: readonly string[]): string {
  const e = [...env].reverse().find((x) => x.startsWith('PATH='));
  return e ? e.slice(5) : '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}

/**
 * Runs `req` in the container whose PID 1 `pidfd` names (opened by the caller after checking
 * it is the container's), with the policy the container was started with (`spec`).
 */
export async function execInContainer(pidfd: number, pid: number, cgroupDirs: readonly string[], spec: ContainerSpec, req: ExecRequest, io: ExecIO = {}): Promise<number> {
  const native = nativeBinding();
  // The container's own rules (container.ts): its capabilities within kiln's, its seccomp filter.
  const privileged = spec.privileged ?? false;
  const own = ownCapabilities();
  const capabilities = (privileged ? effectiveCapabilities(['ALL']) : effectiveCapabilities(spec.capAdd, spec.capDrop)).filter((c) => own.has(c));
  const seccomp = seccompProgram(privileged ? 'unconfined' : spec.seccomp ?? 'default', capabilities);
  const cgroups = cgroupPlacement(cgroupDirs);
  const cgroupFd = cgroups.v2 === undefined ? -1 : openSync(cgroups.v2, constants.O_RDONLY | constants.O_DIRECTORY);
  const nativeSpec: NativeSpawnSpec = {
    namespaces: { user: false, mount: false, pid: false, uts: false, ipc: false, net: false, cgroup: false },
    join: { pidfd, namespaces: namespacesToJoin(pid) },
    rootfs: '',
    uid: req.user.uid,
    gid: req.user.gid,
    groups: req.user.additionalGids,
    setgroups: true,
    capabilities: capabilityMask(capabilities),
    lastCap: lastCapability(),
    noNewPrivileges: !privileged && (spec.noNewPrivileges ?? true),
    // The container's --ulimit and --oom-score-adj hold for what is exec'd in it too, as in docker.
    rlimits: containerRlimitsHere(spec.ulimits ?? [], privilege() === 'host-root' && own.has('SYS_RESOURCE')),
    oomScoreAdj: spec.oomScoreAdj ?? 0,
    ...(spec.oomScoreAdj === undefined ? { oomScoreAdjOptional: true } : {}),
    ...(seccomp ? { seccomp } : {}),
    cwd: req.cwd,
    argv: req.argv,
    env: req.env,
    path: pathOf(req.env),
    stdio: req.tty ? 'pty' : 'pipe',
    stdin: req.interactive && !req.tty ? 'pipe' : 'null',
    // A terminal of its own in the container's devpts; /dev/console stays the container's.
    ...(req.tty ? { pty: { ...terminalSpec(io.terminal), console: '' } } : {}),
    ...(cgroupFd >= 0 ? { cgroupFd } : {}),
  };
  let child: NativeChild | undefined;
  let joined: { pid: number; pidfd: number } | null = null;
  try {
    child = native.spawn(nativeSpec);
    openGate(child.gateFd, true);
    joined = native.awaitJoined(child.joinReportFd as number, child.pidfd);
    if (!joined) throw setupFailure(drainNonBlocking(child.errorFd) || '0\t125\tcannot join the container');
    // v1 hierarchies: the process goes into each while it waits at the gate.
    for (const dir of cgroups.v1) {
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(joined.pid));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new KilnError('CGROUP', `cannot move the exec'd process into ${dir}: ${(err as Error).message}`);
      }
    }
    const started = joined;
    const exit = new Promise<number>((resolve) => native.watch(started.pidfd, (code, sig) => resolve(sig > 0 ? 128 + sig : code)));
    const streams = attach(child, req, io);
    releaseGate(child.gateFd);
    child = { ...child, gateFd: -1 };
    io.onStart?.((sig) => { native.signal(started.pidfd, sig); });
    const code = await exit;
    await streams.done;
    streams.close();
    const report = drainNonBlocking(child.errorFd);
    if (report !== '') throw setupFailure(report);
    return code;
  } finally {
    if (cgroupFd >= 0) closeSync(cgroupFd);
    if (child) {
      if (child.gateFd >= 0) closeQuietly(child.gateFd);
      closeQuietly(child.errorFd);
      if (!joined && child.joinReportFd !== undefined) closeQuietly(child.joinReportFd);
    }
  }
}

function attach(child: NativeChild, req: ExecRequest, io: ExecIO): { done: Promise<void>; close: () => void } {
  if (req.tty && child.consoleSocketFd !== undefined) {
    const relay = relayTerminal(child.consoleSocketFd, io.terminal, (chunk) => { process.stdout.write(chunk); });
    return { done: relay.done, close: () => relay.close() };
  }
  return relayPipes(child, (chunk) => { writeStdout(chunk); }, (chunk) => { writeStderr(chunk); }, req.interactive ? io.input ?? process.stdin : undefined);
}
