/**
 * The typed instruction layer's output: a recipe as stages of validated instructions.
 * Values are kept as written (unexpanded); the planner expands them with expand.ts in
 * the ARG/ENV scope BuildKit gives each instruction.
 */
import type { Directive, Dockerfile, Heredoc, Instruction, SourceRange } from './ast.js';

interface Typed<K extends string> {
  kind: K;
  range: SourceRange;
  /** The raw instruction this came from. */
  source: Instruction;
}

/** Shell form is one string run through the stage's SHELL; exec form is argv. */
export type CommandLine = { form: 'shell'; text: string } | { form: 'exec'; argv: string[] };

export interface KeyValue { key: string; value: string }

export interface MountSpec {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target?: string;
  source?: string;
  from?: string;
  readonly: boolean;
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs size in bytes. */
  size?: number;
  required?: boolean;
  /** secret exposed as this environment variable. */
  env?: string;
}

export interface FromInstruction extends Typed<'FROM'> { image: string; stageName?: string; platform?: string }
export interface RunInstruction extends Typed<'RUN'> {
  command: CommandLine;
  /** Heredoc bodies as written (not chomped: `chomp` says whether to strip leading tabs). */
  heredocs: Heredoc[];
  /**
   * The mounts parsed from the `--mount` values, values as written (not expanded; literal
   * options already validated). BuildKit expands option values (all but `from`) in the step's
   * ARG/ENV scope: expand target/source/id/env once, or re-parse `mountSpecs[i]` with
   * `parseMount(raw, expand)` (grammar/mount.ts) when an option other than those uses `$`.
   */
  mounts: MountSpec[];
  /** The raw `--mount` flag values, in order. */
  mountSpecs: string[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
  /** `--device=name[,required]` (CDI devices). */
  devices: { name: string; required: boolean }[];
}
export interface CmdInstruction extends Typed<'CMD'> { command: CommandLine }
export interface EntrypointInstruction extends Typed<'ENTRYPOINT'> { command: CommandLine }
export interface ShellInstruction extends Typed<'SHELL'> { shell: string[] }
export interface EnvInstruction extends Typed<'ENV'> { pairs: KeyValue[] }
export interface LabelInstruction extends Typed<'LABEL'> { pairs: KeyValue[] }
export interface ArgInstruction extends Typed<'ARG'> { args: { key: string; value?: string }[] }
export interface CopyInstruction extends Typed<'COPY' | 'ADD'> {
  /** Source paths/URLs as written (unexpanded), heredoc sources excluded. */
  sources: string[];
  dest: string;
  /**
   * Heredoc sources (`COPY <<EOF /dest`): a file named `name` with `content` (already
   * chomped for `<<-`); expand it with quotes kept literal when `expand` is true.
   */
  heredocs: Heredoc[];
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD only. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}
export interface ExposeInstruction extends Typed<'EXPOSE'> { ports: string[] }
export interface VolumeInstruction extends Typed<'VOLUME'> { paths: string[] }
export interface UserInstruction extends Typed<'USER'> { user: string }
export interface WorkdirInstruction extends Typed<'WORKDIR'> { path: string }
export interface StopsignalInstruction extends Typed<'STOPSIGNAL'> { signal: string }
export interface MaintainerInstruction extends Typed<'MAINTAINER'> { maintainer: string }
export interface OnbuildInstruction extends Typed<'ONBUILD'> { expression: string }
export interface HealthcheckInstruction extends Typed<'HEALTHCHECK'> {
  /** Docker's Healthcheck.Test: ["NONE"], ["CMD", ...argv] or ["CMD-SHELL", text]. */
  test: string[];
  /** Durations in nanoseconds; absent when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export type StageInstruction =
  | RunInstruction | CmdInstruction | EntrypointInstruction | ShellInstruction | EnvInstruction
  | LabelInstruction | ArgInstruction | CopyInstruction | ExposeInstruction | VolumeInstruction
  | UserInstruction | WorkdirInstruction | StopsignalInstruction | MaintainerInstruction
  | OnbuildInstruction | HealthcheckInstruction;

export interface Stage {
  /** Lower-cased `AS` name, if any. */
  name?: string;
  index: number;
  from: FromInstruction;
  instructions: StageInstruction[];
}

export interface Recipe {
  /** ARGs before the first FROM. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  escape: string;
  /** The parser directives at the top of the file (`# check=` configures the build checks). */
  directives: Directive[];
  /** The parser's non-fatal findings (empty continuation lines), for the build checks. */
  parseWarnings: Dockerfile['warnings'];
}
