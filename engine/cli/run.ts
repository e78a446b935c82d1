/**
 * `kiln run IMAGE [COMMAND] [ARG...]`: a container from an image in the store, with docker's
 * meanings for Entrypoint/Cmd/Env/WorkingDir/User and for the flags. Each container gets a fresh
 * writable layer (kept for `kiln ps -a` / `kiln rm` unless --rm); kiln exits with its exit code.
 */
import { readFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { flagValueError, type CommandSpec, type ParsedArgs } from './args.js';
import { isLive, type ContainerRecords } from '../runtime/containerRecords.js';
import { openStore } from './openStore.js';
import { KilnError } from '../errors/kilnError.js';
import { topmostFirst } from '../layer/overlayStack.js';
import { parseImageArgument, type ImageArgument } from '../image/imageArgument.js';
import { withDefaultTag } from '../image/reference.js';
import { containerHostname, NETWORK_FLAGS, networkChoice, networkRequest } from './networkFlags.js';
import {
  checkContainerName, composeArgv, mergeEnv, parseEnvFile, parseEnvFlag, parseOomScoreAdj, parseSecurityOpts, parseTmpfs, parseVolume,
} from './runOptions.js';
import { RESOURCE_FLAGS, resourceLimits } from './resourceFlags.js';
import { LIFECYCLE_FLAGS, lifecycleOptions, startDetached, type LifecycleOptions } from './runDetached.js';
import { containerNamespacesRefused, containerRefused } from '../runtime/isolation.js';

export const spec: CommandSpec = {
  name: 'run',
  ownUserNamespace: 'if-mapped',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  stopAtFirstPositional: true,
  flags: [
    { name: 'rm', kind: 'bool', description: 'Automatically remove the container when it exits' },
    { name: 'name', kind: 'string', description: 'Assign a name to the container' },
    { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables', valueName: 'list' },
    { name: 'env-file', kind: 'list', description: 'Read in a file of environment variables', valueName: 'list' },
    { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
    { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
    { name: 'volume', short: 'v', kind: 'list', description: 'Bind mount a host path (SRC:DST[:ro])', valueName: 'list' },
    { name: 'tmpfs', kind: 'list', description: 'Mount a tmpfs directory (DST[:size=64m])', valueName: 'list' },
    { name: 'entrypoint', kind: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
    { name: 'hostname', kind: 'string', description: 'Container host name' },
    { name: 'read-only', kind: 'bool', description: "Mount the container's root filesystem as read only" },
    { name: 'cap-add', kind: 'list', description: 'Add Linux capabilities', valueName: 'list' },
    { name: 'cap-drop', kind: 'list', description: 'Drop Linux capabilities', valueName: 'list' },
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'init', kind: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
    { name: 'device', kind: 'list', description: 'Add a host device to the container (HOST[:CONTAINER][:rwm])', valueName: 'list' },
    { name: 'ulimit', kind: 'list', description: 'Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048)', valueName: 'ulimit' },
    { name: 'oom-score-adj', kind: 'string', description: "Tune host's OOM preferences (-1000 to 1000)", valueName: 'int' },
    ...NETWORK_FLAGS,
    { name: 'security-opt', kind: 'list', description: 'Security options: seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]', valueName: 'list' },
    ...RESOURCE_FLAGS,
    ...LIFECYCLE_FLAGS,
  ],
};

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function run(args: ParsedArgs): Promise<number> {
  const [imageText, ...command] = args.positionals as [string, ...string[]];
  // The image's name is parsed before anything is made: a bad one is refused in one line.
  let imageRef: ImageArgument;
  try {
    imageRef = parseImageArgument(imageText);
  } catch (err) {
    throw beforeCommand(err);
  }
  const network = networkChoice(args);
  // Malformed flags fail before anything is made (the image's exposed ports join them later).
  networkRequest(args, network, [], []);
  // As docker's CLI: a terminal in the container relays keystrokes only from a terminal.
  if (args.bools.has('tty') && args.bools.has('interactive') && !(await import('node:tty')).isatty(0)) {
    throw new KilnError('USAGE', 'the input device is not a TTY', { exitCode: 1 });
  }
  const lifecycle = lifecycleOptions(args);
  const limits = await resourceLimits(args);
  const mounts = [...(args.lists.get('volume') ?? []).map(parseVolume), ...(args.lists.get('tmpfs') ?? []).map(parseTmpfs)];
  const name = args.strings.has('name') ? checkContainerName(args.strings.get('name') as string) : undefined;
  const workdirFlag = args.strings.get('workdir');
  if (workdirFlag !== undefined && !workdirFlag.startsWith('/')) {
    throw flagValueError(`the working directory '${workdirFlag}' is invalid, it needs to be an absolute path`);
  }
  const fileEnv: string[] = [];
  for (const file of args.lists.get('env-file') ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw flagValueError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    fileEnv.push(...parseEnvFile(text, process.env));
  }
  const flagEnv = (args.lists.get('env') ?? []).map((e) => parseEnvFlag(e, process.env)).filter((e): e is string => e !== undefined);

  const devices = await hostDevicesOf(args.lists.get('device') ?? []);
  const security = parseSecurityOpts(args.lists.get('security-opt') ?? []);
  const ulimits = await ulimitsOf(args.lists.get('ulimit') ?? []);
  const oomScoreAdj = args.strings.has('oom-score-adj') ? parseOomScoreAdj(args.strings.get('oom-score-adj') as string) : undefined;
  const seccomp = await seccompOf(security.seccomp, args.lists.get('cap-add') ?? [], args.lists.get('cap-drop') ?? []);
  // Where the kernel gives no namespace (an unprivileged CI container), one line before anything is made.
  const refused = await containerNamespacesRefused();
  if (refused !== undefined) throw containerRefused(refused);

  const store = await openStore();
  const { checkLimitsOnHost } = await import('../runtime/cgroups.js');
  checkLimitsOnHost(limits);
  // A supervisor (node) starts while this command finds the image and makes the container.
  const launch = lifecycle.detach ? (await import('../runtime/lifecycle/supervisorLaunch.js')).SupervisorLaunch.begin(store.root) : undefined;
  try {
    return await runIn(store, launch, args, { imageRef, command, network, limits, lifecycle, mounts, name, workdirFlag, fileEnv, flagEnv, devices, security, seccomp, ulimits, oomScoreAdj });
  } finally {
    launch?.abandon();
  }
}

interface RunRequest {
  imageRef: ImageArgument;
  command: string[];
  network: ReturnType<typeof networkChoice>;
  limits: import('../runtime/cgroupLimits.js').ResourceLimits;
  lifecycle: LifecycleOptions;
  mounts: import('../runtime/mounts.js').ContainerMount[];
  name: string | undefined;
  workdirFlag: string | undefined;
  fileEnv: string[];
  flagEnv: string[];
  devices: import('../runtime/hostDevices.js').HostDevice[];
  security: import('./runOptions.js').SecurityOptions;
  seccomp: import('../runtime/seccomp.js').SeccompSetting;
  ulimits: import('../runtime/rlimits.js').Rlimit[];
  oomScoreAdj: number | undefined;
}

/** The image found (or pulled), its container recorded and described; then started detached or run in the foreground. */
async function runIn(store: Awaited<ReturnType<typeof openStore>>, launch: import('../runtime/lifecycle/supervisorLaunch.js').SupervisorLaunch | undefined, args: ParsedArgs, r: RunRequest): Promise<number> {
  const { imageRef, command, network, lifecycle, name } = r;
  let image = await store.resolveImage(imageRef);
  if (!image) image = await pullMissing(store, imageRef);
  const config = image.config.config ?? {};
  const argv = composeArgv(config, args.strings.get('entrypoint'), command);

  const [{ ContainerRecords, thisHolder }, { resolveUser }, { readImageFile }, { writeStoredContainer }] = await Promise.all([
    import('../runtime/containerRecords.js'), import('../runtime/users.js'), import('../runtime/imageFiles.js'),
    import('../runtime/lifecycle/storedContainer.js'),
  ]);
  const snapshots: string[] = [];
  for (const diffId of topmostFirst(image.config.rootfs.diff_ids)) snapshots.push(await store.snapshotDir(diffId));

  const userSpec = args.strings.get('user') ?? config.User ?? '';
  const user = resolveUser(userSpec, await readImageFile(snapshots, '/etc/passwd'), await readImageFile(snapshots, '/etc/group'));

  const records = new ContainerRecords(store.root);
  const holder = lifecycle.detach ? { state: 'created' as const } : thisHolder();
  const joined = await networkToJoin(network, records);
  const autoRemove = args.bools.has('rm');
  const record = await store.withLock(() => records.create({ ...(name !== undefined ? { name } : {}), image: imageRef.text, imageId: image.id, command: argv, ...holder, autoRemove }));
  const containerSpec = containerSpecOf(args, r, { record, records, config, argv, snapshots, user, joined });
  writeStoredContainer(records.containerDir(record.id), {
    spec: containerSpec, tty: args.bools.has('tty'), openStdin: args.bools.has('interactive'), restartPolicy: lifecycle.restart, autoRemove,
    stopSignal: lifecycle.stopSignal ?? config.StopSignal ?? 'SIGTERM', stopSignalSet: (lifecycle.stopSignal ?? config.StopSignal) !== undefined,
    ...(lifecycle.stopTimeout !== undefined ? { stopTimeout: lifecycle.stopTimeout } : {}),
    holds: [...image.config.rootfs.diff_ids],
    imageConfig: { Entrypoint: config.Entrypoint ?? null, Cmd: config.Cmd ?? null, Labels: config.Labels ?? null, WorkingDir: config.WorkingDir ?? '', User: config.User ?? '' },
  });
  if (launch) return startDetached(record, launch);
  return runInForeground(containerSpec, records, record, args);
}

type ContainerRecordOf = import('../runtime/containerRecords.js').ContainerRecord;

/** What the container is, from the image's config, the flags and its record: the spec a start (or a restart) runs. */
function containerSpecOf(
  args: ParsedArgs,
  r: RunRequest,
  found: {
    record: ContainerRecordOf; records: ContainerRecords; config: NonNullable<import('../image/config.js').ImageConfig['config']>; argv: string[]; snapshots: string[];
    user: ReturnType<typeof import('../runtime/users.js').resolveUser>; joined: number | undefined;
  },
): import('../runtime/container.js').ContainerSpec {
  const { network, limits, mounts, workdirFlag, fileEnv, flagEnv, devices, security, seccomp, ulimits, oomScoreAdj } = r;
  const { record, records, config, argv, snapshots, user, joined } = found;
  const hostname = args.strings.get('hostname')
    ?? ('mode' in network && network.mode === 'host' ? hostHostname() : joined !== undefined ? containerHostname(joined) : record.id.slice(0, 12));
  const request = networkRequest(args, network, Object.keys(config.ExposedPorts ?? {}), [record.name, record.id.slice(0, 12)], joined);
  const tty = args.bools.has('tty');
  const env = mergeEnv(
    [DEFAULT_PATH, `HOSTNAME=${hostname}`],
    tty ? ['TERM=xterm'] : [],
    config.Env ?? [],
    fileEnv,
    flagEnv,
  );
  const withHome = env.some((e) => e.startsWith('HOME=')) ? env : [...env, `HOME=${user.home}`];
  return {
    id: record.id,
    rootfs: {
      lowerDirs: snapshots.length > 0 ? snapshots : [records.emptyLowerDir(record.id)],
      upperDir: records.upperDir(record.id),
      workDir: records.workDir(record.id),
    },
    argv,
    env: withHome,
    cwd: workdirFlag ?? (config.WorkingDir || '/'),
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    hostname,
    network: request,
    mounts,
    limits,
    devices,
    seccomp,
    ulimits,
    ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
    ...(security.noNewPrivileges !== undefined ? { noNewPrivileges: security.noNewPrivileges } : {}),
    readonlyRootfs: args.bools.has('read-only'),
    capAdd: args.lists.get('cap-add') ?? [],
    capDrop: args.lists.get('cap-drop') ?? [],
    init: args.bools.has('init'),
    stdio: tty ? 'pty' : 'pipe',
    stdin: args.bools.has('interactive') ? 'pipe' : 'null',
    removeMountStubs: false,
    managed: true,
  };
}

/**
 * Runs the container attached to this command and returns its exit code; its record says it
 * runs while it does, and afterwards that it exited (or is gone, with --rm or a failed start).
 */
async function runInForeground(containerSpec: import('../runtime/container.js').ContainerSpec, records: ContainerRecords, created: ContainerRecordOf, args: ParsedArgs): Promise<number> {
  const { runContainer } = await import('../runtime/container.js');
  const tty = args.bools.has('tty');
  const autoRemove = args.bools.has('rm');
  let record = created;
  let exitCode = 125;
  let noted: Promise<void> = Promise.resolve();
  let started = false;
  // While the container runs, runContainer forwards these to it. Before it starts and after it
  // exits, a signal must not kill kiln halfway through writing or removing the container record.
  const holdSignals = (): void => {};
  for (const sig of HELD_SIGNALS) process.on(sig, holdSignals);
  const stopSecondInterrupt = killOnSecondInterrupt();
  try {
    const result = await runContainer(containerSpec, {
      forwardSignals: true,
      onStart: (c) => {
        started = true;
        stopSecondInterrupt.container = c;
        noted = records.update(record, runningPatch(c)).then((r) => { record = r; }, () => undefined);
      },
      ...(tty ? { terminal: { ...(args.bools.has('interactive') ? { input: process.stdin } : {}), output: process.stdout } } : {}),
    });
    exitCode = result.exitCode;
    return exitCode;
  } catch (err) {
    if (err instanceof KilnError) exitCode = err.exitCode;
    throw err;
  } finally {
    stopSecondInterrupt.off();
    await noted;
    // A container that never started (a port taken, a network refused) leaves nothing behind.
    if (autoRemove || !started) await records.remove(record.id);
    else await records.update(record, { state: 'exited', exitCode, finished: new Date().toISOString(), pid: undefined, pidStart: undefined, cgroupDirs: undefined }).catch(() => undefined); // removed by `rm -f`
    for (const sig of HELD_SIGNALS) process.off(sig, holdSignals);
  }
}

/** What the record of a foreground container says once it runs. */
function runningPatch(c: import('../runtime/container.js').RunningContainer): Partial<import('../runtime/containerRecords.js').ContainerRecord> {
  return { pid: c.pid, cgroupDirs: [...c.cgroupDirs], ports: [...c.ports], started: new Date().toISOString() };
}

/**
 * A second SIGINT or SIGTERM while the container runs kills it (the first was passed on to
 * it, and it did not end): docker's CLI gives up the same way after repeated interrupts.
 */
function killOnSecondInterrupt(): { container?: import('../runtime/container.js').RunningContainer; off: () => void } {
  let count = 0;
  const state: { container?: import('../runtime/container.js').RunningContainer; off: () => void } = { off: () => undefined };
  const onInterrupt = (): void => {
    if (++count < 2 || !state.container) return;
    process.stderr.write('kiln: second interrupt: killing the container\n');
    state.container.signal('SIGKILL');
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  state.off = () => { process.off('SIGINT', onInterrupt); process.off('SIGTERM', onInterrupt); };
  return state;
}

const HELD_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The seccomp setting of `--security-opt seccomp=…`: a profile file is read and compiled for
 * the container's capabilities here, so a bad one stops the run before anything is created.
 */
async function seccompOf(flag: string | undefined, capAdd: string[], capDrop: string[]): Promise<import('../runtime/seccomp.js').SeccompSetting> {
  if (flag === 'unconfined') return 'unconfined';
  const [{ loadSeccompProfile, seccompProgram }, { effectiveCapabilities }] = await Promise.all([import('../runtime/seccomp.js'), import('../runtime/capabilities.js')]);
  const setting = flag === undefined ? 'default' : loadSeccompProfile(flag);
  seccompProgram(setting, effectiveCapabilities(capAdd, capDrop));
  return setting;
}

/** `--ulimit` values (unknown names and bad numbers stop the run before anything is created). */
async function ulimitsOf(flags: readonly string[]): Promise<import('../runtime/rlimits.js').Rlimit[]> {
  if (flags.length === 0) return [];
  const { parseUlimit } = await import('../runtime/rlimits.js');
  return flags.map(parseUlimit);
}

/** `--device` values, resolved on the host before anything is created. */
async function hostDevicesOf(flags: readonly string[]): Promise<import('../runtime/hostDevices.js').HostDevice[]> {
  if (flags.length === 0) return [];
  const { parseDeviceFlag, resolveHostDevices } = await import('../runtime/hostDevices.js');
  return flags.flatMap((f) => resolveHostDevices(parseDeviceFlag(f)));
}

/**
 * `--network container:NAME`: the PID 1 of that running container; a user-defined network:
 * checked to exist before a record is made.
 */
async function networkToJoin(choice: ReturnType<typeof networkChoice>, records: ContainerRecords): Promise<number | undefined> {
  if ('network' in choice) {
    const { networkExists } = await import('../runtime/network/networks.js');
    if (!networkExists(choice.network)) throw new KilnError('NETWORK_NOT_FOUND', `network ${choice.network} not found`, { exitCode: 125 });
  }
  if (!('container' in choice)) return undefined;
  const { privilege } = await import('../host/privilege.js');
  if (privilege() !== 'host-root') throw new KilnError('ROOTLESS_NETWORK', '--network container: needs root (each rootless kiln has a user namespace of its own)', { exitCode: 125 });
  const other = await records.find(choice.container);
  if (!other) throw new KilnError('NO_SUCH_CONTAINER', `No such container: ${choice.container}`, { exitCode: 125 });
  if (!isLive(other) || other.state !== 'running' || other.pid === undefined) throw new KilnError('CONTAINER_NOT_RUNNING', `cannot join network of a non running container: ${other.id}`, { exitCode: 125 });
  return other.pid;
}

/** docker run pulls an image it does not have. */
async function pullMissing(store: Awaited<ReturnType<typeof openStore>>, name: ImageArgument): Promise<NonNullable<Awaited<ReturnType<typeof store.resolveImage>>>> {
  const { pullImage } = await import('../registry/pull.js');
  process.stderr.write(`Unable to find image '${name.text}' locally\n`);
  // 64 hex digits name an image ID, which no registry has.
  if (name.reference === undefined) throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${name.text}`, { exitCode: 125, location: { file: name.text } });
  try {
    return await pullImage(store, withDefaultTag(name.reference));
  } catch (err) {
    throw beforeCommand(err);
  }
}

/** docker run exits 125 for what fails before the container's command runs: a user's error keeps its message, with that status. */
function beforeCommand(err: unknown): unknown {
  return err instanceof KilnError ? new KilnError(err.code, err.message, { exitCode: 125, cause: err }) : err;
}
