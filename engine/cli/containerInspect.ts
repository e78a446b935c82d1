/**
 * `kiln inspect CONTAINER`: a container as `docker inspect` shows it — above all its State
 * (Status, Running, Paused, Restarting, OOMKilled, Dead, Pid, ExitCode, Error, StartedAt,
 * FinishedAt, with Go's zero time for what has not happened), and the parts of Config and
 * HostConfig kiln has (restart policy, resources, capabilities, log path).
 */
import { containerState } from './ps.js';
import type { ContainerRecord, ContainerRecords } from '../runtime/containerRecords.js';
import { parseRfc3339, rfc3339Nano } from '../runtime/lifecycle/logClock.js';
import { storedContainerOrUndefined } from '../runtime/lifecycle/storedContainer.js';
import type { ContainerSpec } from '../runtime/container.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** A stored time (ISO with milliseconds, or RFC 3339 with nanoseconds) as docker prints times. */
function dockerTime(t: string | undefined): string {
  if (t === undefined) return ZERO_TIME;
  const nanos = parseRfc3339(t);
  return nanos === undefined ? t : rfc3339Nano(nanos);
}

function state(c: ContainerRecord): Record<string, unknown> {
  const status = containerState(c);
  const running = status === 'running' || status === 'paused' || status === 'restarting';
  return {
    Status: status,
    Running: running,
    Paused: status === 'paused',
    Restarting: status === 'restarting',
    OOMKilled: c.oomKilled ?? false,
    Dead: false,
    Pid: running && status !== 'restarting' ? c.pid ?? 0 : 0,
    ExitCode: c.exitCode ?? 0,
    Error: c.error ?? '',
    StartedAt: dockerTime(c.started),
    FinishedAt: running && status !== 'restarting' ? ZERO_TIME : dockerTime(c.finished),
  };
}

export function inspectContainer(records: ContainerRecords, c: ContainerRecord): Record<string, unknown> {
  const stored = storedContainerOrUndefined(records.containerDir(c.id));
  const spec = stored?.spec;
  const l = spec?.limits ?? {};
  const throttle = (list: { major: number; minor: number; rate: number }[] | undefined): unknown =>
    list ? list.map((d) => ({ Path: `${d.major}:${d.minor}`, Rate: d.rate })) : null;
  return {
    Id: c.id,
    Created: dockerTime(c.created),
    Path: c.command[0] ?? '',
    Args: c.command.slice(1),
    State: state(c),
    Image: c.imageId,
    LogPath: stored && c.detached !== undefined ? records.logPath(c.id) : '',
    Name: `/${c.name}`,
    RestartCount: c.restartCount ?? 0,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      LogConfig: { Type: 'json-file', Config: {} },
      RestartPolicy: { Name: stored?.restartPolicy.name ?? 'no', MaximumRetryCount: stored?.restartPolicy.maximumRetryCount ?? 0 },
      AutoRemove: stored?.autoRemove ?? false,
      CapAdd: spec?.capAdd?.length ? spec.capAdd : null,
      CapDrop: spec?.capDrop?.length ? spec.capDrop : null,
      Privileged: false,
      ReadonlyRootfs: spec?.readonlyRootfs ?? false,
      CpuShares: l.cpuShares ?? 0,
      Memory: l.memoryBytes ?? 0,
      NanoCpus: l.cpus !== undefined ? Math.round(l.cpus * 1e9) : 0,
      BlkioWeight: l.blkioWeight ?? 0,
      BlkioDeviceReadBps: throttle(l.readBps),
      BlkioDeviceWriteBps: throttle(l.writeBps),
      BlkioDeviceReadIOps: throttle(l.readIops),
      BlkioDeviceWriteIOps: throttle(l.writeIops),
      CpuPeriod: l.cpuPeriod ?? 0,
      CpuQuota: l.cpuQuota ?? 0,
      CpusetCpus: l.cpusetCpus ?? '',
      CpusetMems: l.cpusetMems ?? '',
      MemoryReservation: l.memoryReservationBytes ?? 0,
      MemorySwap: l.memorySwapBytes ?? (l.memoryBytes ?? 0),
      PidsLimit: l.pids ?? null,
    },
    GraphDriver: graphDriver(spec?.rootfs),
    Mounts: [],
    Config: {
      Hostname: spec?.hostname ?? '',
      Domainname: '',
      User: stored?.imageConfig.User ?? '',
      AttachStdin: false,
      AttachStdout: !c.detached,
      AttachStderr: !c.detached,
      Tty: stored?.tty ?? false,
      OpenStdin: stored?.openStdin ?? false,
      StdinOnce: false,
      Env: spec?.env ?? null,
      Cmd: c.command,
      Image: c.image,
      Volumes: null,
      WorkingDir: spec?.cwd ?? '',
      Entrypoint: stored?.imageConfig.Entrypoint ?? null,
      OnBuild: null,
      Labels: stored?.imageConfig.Labels ?? {},
      ...(stored?.stopSignalSet ? { StopSignal: stored.stopSignal } : {}),
      ...(stored?.stopTimeout !== undefined ? { StopTimeout: stored.stopTimeout } : {}),
    },
  };
}

/** Where the container's root filesystem lives: an overlay of the image's layers, or a plain directory. */
function graphDriver(rootfs: ContainerSpec['rootfs'] | undefined): { Data: Record<string, string> | null; Name: string } {
  if (!rootfs) return { Data: null, Name: 'overlay' };
  if (rootfs.kind === 'dir') return { Data: { Dir: rootfs.dir }, Name: 'dir' };
  return { Data: { LowerDir: rootfs.lowerDirs.join(':'), UpperDir: rootfs.upperDir, WorkDir: rootfs.workDir }, Name: 'overlay' };
}
