/**
 * The instructions that only change the image config: ENV, LABEL, EXPOSE, VOLUME, USER,
 * STOPSIGNAL, HEALTHCHECK, SHELL, CMD, ENTRYPOINT, ONBUILD, MAINTAINER, ARG. Each returns
 * its history line (`created_by`) as BuildKit writes it (ONBUILD has none); none makes a layer. Values arrive
 * variable-expanded where BuildKit expands them (metadataStep, at the end, expands them and adds
 * the history entry).
 */
import type { ContainerConfig } from '../image/config.js';
import type { CommandLine, HealthcheckInstruction, StageInstruction } from '../../grammar/recipe.js';
import { goDuration, goList, goRune } from './goFormat.js';
import { goQuoteList } from '../../grammar/goText.js';
import type { StageState } from './state.js';
import { addHistory } from './stepCommit.js';
import { located, stepWords, type StepEnvironment } from './stepEnvironment.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function cfg(state: StageState): ContainerConfig {
  state.config.config ??= {};
  return state.config.config;
}

/** The argv a CMD/ENTRYPOINT/RUN runs: exec form as is, shell form through the stage's SHELL. */
export function commandArgv(state: StageState, command: CommandLine): string[] {
  if (command.form === 'exec') return command.argv;
  const shell = state.config.config?.Shell ?? DEFAULT_SHELL;
  return [...shell, command.text];
}

export function setEnv(state: StageState, pairs: { key: string; value: string }[]): string {
  const c = cfg(state);
  const env = [...(c.Env ?? [])];
  for (const { key, value } of pairs) {
    const at = env.findIndex((kv) => kv === key || kv.startsWith(key + '='));
    if (at >= 0) env[at] = `${key}=${value}`;
    else env.push(`${key}=${value}`);
  }
  c.Env = env;
  return `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
}

export function setLabels(state: StageState, pairs: { key: string; value: string }[]): string {
  const c = cfg(state);
  c.Labels = { ...(c.Labels ?? {}) };
  for (const { key, value } of pairs) c.Labels[key] = value;
  return `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
}

/** `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, `80/udp`, `8000/tcp` … `8002/tcp`. */
export function exposedPortKeys(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec.trim());
  if (!m) throw new Error(`invalid containerPort: ${spec}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (start > 65535 || end > 65535) throw new Error(`invalid containerPort: ${spec}`);
  if (end < start) throw new Error(`invalid range specified for container port: ${spec}`);
  const keys: string[] = [];
  for (let p = start; p <= end; p++) keys.push(`${p}/${proto}`);
  return keys;
}

export function expose(state: StageState, ports: string[]): string {
  const c = cfg(state);
  c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
  for (const spec of ports) for (const key of exposedPortKeys(spec)) c.ExposedPorts[key] = {};
  // BuildKit prints the parsed port set with Go's %v of a map: keys sorted, `{}` values.
  const keys = [...new Set(ports.flatMap(exposedPortKeys))].sort();
  return `EXPOSE map[${keys.map((k) => `${k}:{}`).join(' ')}]`;
}

export function addVolumes(state: StageState, paths: string[]): string {
  const c = cfg(state);
  c.Volumes = { ...(c.Volumes ?? {}) };
  for (const p of paths) {
    if (p.trim() === '') throw new Error('VOLUME specified can not be an empty string');
    c.Volumes[p] = {};
  }
  return `VOLUME ${goList(paths)}`;
}

export function setUser(state: StageState, user: string): string {
  cfg(state).User = user;
  return `USER ${user}`;
}

const SIGNALS = new Set(['ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ']);

export function setStopSignal(state: StageState, signal: string): string {
  const name = signal.toUpperCase().replace(/^SIG/, '');
  const ok = /^[0-9]+$/.test(signal) ? Number(signal) > 0 && Number(signal) <= 64
    : SIGNALS.has(name) || /^RTMIN(\+\d+)?$/.test(name) || /^RTMAX(-\d+)?$/.test(name);
  if (!ok) throw new Error(`invalid signal: ${signal}`);
  cfg(state).StopSignal = signal;
  return `STOPSIGNAL ${signal}`;
}

export function setHealthcheck(state: StageState, h: HealthcheckInstruction): string {
  const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: h.test };
  if (h.interval) hc.Interval = h.interval;
  if (h.timeout) hc.Timeout = h.timeout;
  if (h.startPeriod) hc.StartPeriod = h.startPeriod;
  if (h.startInterval) hc.StartInterval = h.startInterval;
  if (h.retries) hc.Retries = h.retries;
  cfg(state).Healthcheck = hc;
  const d = (n: number | undefined) => `"${goDuration(n ?? 0)}"`;
  // Go's %q of BuildKit's HealthcheckConfig: Interval, Timeout, StartPeriod, StartInterval.
  const durations = [h.interval, h.timeout, h.startPeriod, h.startInterval].map(d).join(' ');
  return `HEALTHCHECK &{${goQuoteList(h.test)} ${durations} ${goRune(h.retries ?? 0)}}`;
}

export function setShell(state: StageState, shell: string[]): string {
  cfg(state).Shell = shell;
  return `SHELL ${goList(shell)}`;
}

export function setCmd(state: StageState, command: CommandLine): string {
  const argv = commandArgv(state, command);
  cfg(state).Cmd = argv;
  state.cmdSetInStage = true;
  return `CMD ${goQuoteList(argv)}`;
}

export function setEntrypoint(state: StageState, command: CommandLine): string {
  const argv = commandArgv(state, command);
  const c = cfg(state);
  c.Entrypoint = argv;
  // An inherited CMD made sense with the old entrypoint only.
  if (!state.cmdSetInStage) c.Cmd = null;
  return `ENTRYPOINT ${goQuoteList(argv)}`;
}

export function addOnbuild(state: StageState, expression: string): void {
  const c = cfg(state);
  c.OnBuild = [...(c.OnBuild ?? []), expression];
}

export function setMaintainer(state: StageState, maintainer: string): string {
  state.config.author = maintainer;
  return `MAINTAINER ${maintainer}`;
}

/** Where a stage starts from a base config: ONBUILD triggers run once, then are dropped. */
export function takeOnbuildTriggers(state: StageState): string[] {
  const c = state.config.config;
  const triggers = c?.OnBuild ?? [];
  if (c && c.OnBuild !== undefined) c.OnBuild = null;
  return triggers;
}

/** A base image without PATH gets the default one (Linux), as BuildKit does. */
export function ensurePath(state: StageState): void {
  const c = cfg(state);
  // After the image's own variables, as BuildKit adds it.
  if (!(c.Env ?? []).some((kv) => kv.startsWith('PATH='))) c.Env = [...(c.Env ?? []), `PATH=${DEFAULT_PATH}`];
}

/** The instructions metadataStep executes: every kind that makes no layer. */
export type MetadataInstruction = Exclude<StageInstruction, { kind: 'COPY' | 'ADD' | 'RUN' | 'WORKDIR' }>;

/**
 * A metadata instruction as a step: its values expanded where BuildKit expands them (ENV and
 * LABEL pairs, EXPOSE ports, VOLUME paths, USER, STOPSIGNAL; not CMD, ENTRYPOINT, SHELL or
 * HEALTHCHECK), the config changed, a history entry marked `empty_layer` (none for ONBUILD).
 */
export function metadataStep(state: StageState, env: StepEnvironment, instr: MetadataInstruction): StageState {
  const { lookup, word, checked } = stepWords(state, env, instr);
  const history = (createdBy: string): StageState => {
    addHistory(state, env, createdBy, true);
    return state;
  };
  switch (instr.kind) {
    case 'ENV': return history(setEnv(state, instr.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }))));
    case 'LABEL': return history(setLabels(state, instr.pairs.map((p) => ({ key: word(p.key), value: word(p.value) }))));
    case 'ARG': return history(declareArgs(state, env, instr));
    case 'EXPOSE': {
      const ports = instr.ports.flatMap((p) => { try { return env.expander.words(p, lookup); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); } });
      return history(checked(() => expose(state, ports)));
    }
    case 'VOLUME': return history(checked(() => addVolumes(state, instr.paths.map(word))));
    case 'USER': return history(setUser(state, word(instr.user)));
    case 'STOPSIGNAL': return history(checked(() => setStopSignal(state, word(instr.signal))));
    case 'HEALTHCHECK': return history(setHealthcheck(state, instr));
    case 'SHELL': return history(setShell(state, instr.shell));
    case 'CMD': return history(setCmd(state, instr.command));
    case 'ENTRYPOINT': return history(setEntrypoint(state, instr.command));
    case 'MAINTAINER': return history(setMaintainer(state, instr.maintainer));
    case 'ONBUILD':
      // Recorded in the config only: BuildKit adds no history entry for ONBUILD.
      addOnbuild(state, instr.expression);
      return state;
  }
}

/** ARG: each name declared in a scope of the stage's own (defaults expanded in the scope before); its history line. */
function declareArgs(state: StageState, env: StepEnvironment, instr: Extract<StageInstruction, { kind: 'ARG' }>): string {
  state.args = state.args.fork();
  const parts: string[] = [];
  for (const a of instr.args) {
    let declared;
    try { declared = state.args.declare(a.key, a.value, state.config.config?.Env ?? undefined, env.expander); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); }
    parts.push(declared.value === undefined ? a.key : `${a.key}=${declared.value}`);
  }
  return `ARG ${parts.join(' ')}`;
}
