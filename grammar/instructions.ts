/**
 * The typed instruction layer: `toRecipe(df)` validates every instruction the way BuildKit's
 * `instructions.Parse` does (allowed flags and their values, argument counts and shapes,
 * stage names, HEALTHCHECK durations, SHELL in JSON form, …), plus the checks BuildKit makes
 * on literal values when it dispatches (mount options, `COPY --from` without variables,
 * STOPSIGNAL names) where the value has no variables to expand. Errors are ParseErrors at
 * the instruction's line, with BuildKit's message and "did you mean" hints.
 */
import type { Dockerfile, Heredoc, Instruction } from './ast.js';
import { ExpansionError, expandWord, expandWords } from './expand.js';
import { DurationError, parseGoDuration } from './goDuration.js';
import { goQuote, goTrimSpace } from './goText.js';
import { chompHeredocContent, parseHeredocMarker } from './heredoc.js';
import { csvFields, MountError, parseMount } from './mount.js';
import { ParseError } from './parseError.js';
import { PortError, parsePortSpec } from './ports.js';
import type {
  ArgInstruction, CommandLine, CopyInstruction, FromInstruction, HealthcheckInstruction, KeyValue, MountSpec,
  Recipe, RunInstruction, Stage, StageInstruction,
} from './recipe.js';
import { suggestLike } from './suggest.js';

/** A validation failure before a position is attached. */
class InstructionError extends Error {}

const INSTRUCTION_NAMES = ['ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

type FlagKind = 'bool' | 'string' | 'strings';

/** BuildKit's BFlags: the flags one instruction accepts, and the values given. */
class Flags {
  private readonly defs = new Map<string, FlagKind>();
  private readonly values = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();
  readonly used = new Set<string>();
  constructor(private readonly given: readonly string[]) {}

  bool(name: string): this { this.defs.set(name, 'bool'); return this; }
  string(name: string): this { this.defs.set(name, 'string'); return this; }
  strings(name: string): this { this.defs.set(name, 'strings'); return this; }

  parse(): this {
    for (const a of this.given) {
      if (a === '--') return this;
      if (!a.startsWith('--')) throw new InstructionError(`arg should start with -- : ${a}`);
      const eq = a.indexOf('=');
      const flagName = eq < 0 ? a : a.slice(0, eq);
      const hasValue = eq >= 0;
      const value = hasValue ? a.slice(eq + 1) : '';
      const name = flagName.slice(2);
      const kind = this.defs.get(name);
      if (kind === undefined) {
        const hint = suggestLike(name, [...this.defs.keys()], true);
        throw new InstructionError(`unknown flag: ${flagName}${hint !== undefined ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (this.used.has(name) && kind !== 'strings') throw new InstructionError(`duplicate flag specified: ${flagName}`);
      this.used.add(name);
      if (kind === 'bool') {
        if (hasValue && value === '') throw new InstructionError(`missing a value on flag: ${flagName}`);
        const v = value.toLowerCase();
        if (v === 'true' || v === '') this.values.set(name, 'true');
        else if (v === 'false') this.values.set(name, 'false');
        else throw new InstructionError(`expecting boolean value for flag ${flagName}, not: ${value}`);
      } else {
        if (!hasValue) throw new InstructionError(`missing a value on flag: ${flagName}`);
        if (kind === 'string') this.values.set(name, value);
        else this.lists.set(name, [...(this.lists.get(name) ?? []), value]);
      }
    }
    return this;
  }

  get(name: string): string | undefined { return this.values.get(name); }
  isTrue(name: string): boolean { return this.values.get(name) === 'true'; }
  list(name: string): string[] { return this.lists.get(name) ?? []; }
}

const argValues = (i: Instruction): string[] => i.args.map((a) => a.value);

/** BuildKit's nodeArgs: ONBUILD contributes its nested keyword and that instruction's arguments. */
function nodeArgs(i: Instruction): string[] {
  if (i.next) return [i.next.keyword, ...nodeArgs(i.next)];
  return argValues(i);
}

const atLeastOne = (name: string): InstructionError => new InstructionError(`${name} requires at least one argument`);
const exactlyOne = (name: string): InstructionError => new InstructionError(`${name} requires exactly one argument`);

function commandLine(args: string[], json: boolean): CommandLine {
  if (json) return { form: 'exec', argv: args };
  return { form: 'shell', text: args.join(' ') };
}

function keyValues(args: string[], name: string): KeyValue[] {
  if (args.length === 0) throw atLeastOne(name);
  if (args.length % 3 !== 0) throw new InstructionError(`Bad input to ${name}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let j = 0; j < args.length; j += 3) {
    if ((args[j] as string).length === 0) throw new InstructionError(`${name} names can not be blank`);
    pairs.push({ key: args[j] as string, value: args[j + 1] as string });
  }
  return pairs;
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

const noEnv = (): undefined => undefined;

/** Linux signal names moby's signal.ParseSignal accepts (without the SIG prefix). */
const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH',
  'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

function checkSignal(sig: string): void {
  if (/^[+-]?[0-9]+$/.test(sig)) {
    if (Number(sig) === 0) throw new InstructionError(`Invalid signal: ${sig}`);
    return;
  }
  if (!SIGNALS.has(sig.toUpperCase().replace(/^SIG/, ''))) throw new InstructionError(`Invalid signal: ${sig}`);
}

function checkPorts(spec: string, escape: string): void {
  try {
    for (const word of expandWords(spec, noEnv, escape)) parsePortSpec(word);
  } catch (e) {
    if (e instanceof PortError || e instanceof ExpansionError) throw new InstructionError(e.message);
    throw e;
  }
}

function duration(flags: Flags, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined || v === '') return undefined;
  let d: number;
  try {
    d = parseGoDuration(v);
  } catch (e) {
    if (e instanceof DurationError) throw new InstructionError(e.message);
    throw e;
  }
  if (d === 0) return 0;
  if (d < 1e6) throw new InstructionError(`Interval ${goQuote(name)} cannot be less than 1ms`);
  return d;
}

function heredocSources(i: Instruction, command: string): { sources: string[]; dest: string; heredocs: Heredoc[] } {
  const args = argValues(i);
  const dest = args[args.length - 1] as string;
  if (parseMarkerQuietly(dest)) throw new InstructionError(`${command} cannot accept a heredoc as a destination`);
  const byName = new Map(i.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const heredocs: Heredoc[] = [];
  for (const src of args.slice(0, -1)) {
    const marker = parseMarkerQuietly(src);
    if (marker) {
      const body = byName.get(marker.name);
      const content = body?.content ?? '';
      heredocs.push({
        ...marker,
        content: marker.chomp ? chompHeredocContent(content) : content,
        range: body?.range ?? i.range,
      });
    } else {
      sources.push(src);
    }
  }
  return { sources, dest, heredocs };
}

function parseMarkerQuietly(word: string): ReturnType<typeof parseHeredocMarker> {
  try {
    return parseHeredocMarker(word);
  } catch (e) {
    if (e instanceof ExpansionError) return undefined;
    throw e;
  }
}

function checkNoVariables(value: string, escape: string, message: string): void {
  let expanded: string;
  try {
    expanded = expandWord(value, noEnv, escape);
  } catch (e) {
    if (e instanceof ExpansionError) throw new InstructionError(e.message);
    throw e;
  }
  if (expanded !== value) throw new InstructionError(message);
}

/**
 * The --mount values: fully validated as BuildKit validates them when they hold no `$`
 * (quotes and escapes removed as its expander would), and returned with values as written
 * so the build expands each one exactly once.
 */
function mountsOf(values: string[], escape: string): MountSpec[] {
  const removeQuotes = (v: string): string => {
    try { return expandWord(v, noEnv, escape); } catch (e) {
      if (e instanceof ExpansionError) throw new MountError(e.message);
      throw e;
    }
  };
  return values.map((raw) => {
    try {
      if (!raw.includes('$')) {
        const checked = parseMount(raw, removeQuotes);
        try { return parseMount(raw, (v) => v, { deferVariables: true }); } catch { return checked; }
      }
      return parseMount(raw, (v) => v, { deferVariables: true });
    } catch (e) {
      if (e instanceof MountError) throw new InstructionError(e.message);
      throw e;
    }
  });
}

function parseDevice(value: string): { name: string; required: boolean } {
  let fields: string[];
  try { fields = csvFields(value); } catch (e) { throw new InstructionError(`failed to parse csv devices: ${(e as Error).message}`); }
  const d = { name: '', required: false };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = field.slice(eq + 1);
    if (eq < 0) {
      if (key === 'required') { d.required = true; continue; }
      if (d.name === '') { d.name = field; continue; }
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
    }
    if (key === 'name') {
      if (d.name !== '') throw new InstructionError(`device name already set to ${d.name}`);
      d.name = v;
    } else if (key === 'required') {
      const b = ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v) ? true : ['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v) ? false : undefined;
      if (b === undefined) throw new InstructionError(`invalid value for ${key}: ${v}`);
      d.required = b;
    } else if (d.name === '') {
      d.name = field;
    } else {
      const hint = suggestLike(key, ['name', 'required'], true);
      throw new InstructionError(`unexpected key '${key}' in '${field}'${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
  }
  return d;
}

type Typed = FromInstruction | StageInstruction;

/** What each instruction's parse is handed: the node, its words, its flags (declared and parsed by the parse), the base of its typed form. */
interface Parsing {
  readonly i: Instruction;
  readonly base: { range: Instruction['range']; source: Instruction };
  readonly args: string[];
  readonly flags: Flags;
  readonly escape: string;
}

/** One parse per instruction, as BuildKit's instructions/parse.go has one per command. */
const PARSERS = new Map<string, (p: Parsing) => Typed>([
  ['env', ({ base, args, flags }) => {
    flags.parse();
    return { kind: 'ENV', ...base, pairs: keyValues(args, 'ENV') };
  }],
  ['label', ({ base, args, flags }) => {
    flags.parse();
    return { kind: 'LABEL', ...base, pairs: keyValues(args, 'LABEL') };
  }],
  ['maintainer', ({ base, args, flags }) => {
    if (args.length !== 1) throw exactlyOne('MAINTAINER');
    flags.parse();
    return { kind: 'MAINTAINER', ...base, maintainer: args[0] as string };
  }],
  ['add', (p) => parseCopy(p, 'ADD')],
  ['copy', (p) => parseCopy(p, 'COPY')],
  ['from', parseFrom],
  ['onbuild', parseOnbuild],
  ['workdir', ({ base, args, flags }) => {
    if (args.length !== 1) throw exactlyOne('WORKDIR');
    flags.parse();
    return { kind: 'WORKDIR', ...base, path: args[0] as string };
  }],
  ['run', parseRun],
  ['cmd', ({ i, base, args, flags }) => {
    flags.parse();
    return { kind: 'CMD', ...base, command: commandLine(args, i.json) };
  }],
  ['entrypoint', ({ i, base, args, flags }) => {
    flags.parse();
    return { kind: 'ENTRYPOINT', ...base, command: commandLine(args, i.json) };
  }],
  ['healthcheck', parseHealthcheck],
  ['expose', ({ base, args, flags, escape }) => {
    if (args.length === 0) throw atLeastOne('EXPOSE');
    flags.parse();
    for (const spec of args) if (!spec.includes('$')) checkPorts(spec, escape);
    return { kind: 'EXPOSE', ...base, ports: [...args].sort() };
  }],
  ['user', ({ base, args, flags }) => {
    if (args.length !== 1) throw exactlyOne('USER');
    flags.parse();
    return { kind: 'USER', ...base, user: args[0] as string };
  }],
  ['volume', ({ base, args, flags }) => {
    if (args.length === 0) throw atLeastOne('VOLUME');
    flags.parse();
    const paths = args.map((v) => goTrimSpace(v));
    if (paths.some((p) => p === '')) throw new InstructionError('VOLUME specified can not be an empty string');
    return { kind: 'VOLUME', ...base, paths };
  }],
  ['stopsignal', ({ base, args }) => {
    if (args.length !== 1) throw exactlyOne('STOPSIGNAL');
    const signal = args[0] as string;
    if (!signal.includes('$')) checkSignal(signal);
    return { kind: 'STOPSIGNAL', ...base, signal };
  }],
  ['arg', parseArg],
  ['shell', ({ i, base, args, flags }) => {
    flags.parse();
    if (args.length === 0) throw atLeastOne('SHELL');
    if (!i.json) throw new InstructionError('SHELL requires the arguments to be in JSON form');
    return { kind: 'SHELL', ...base, shell: args };
  }],
]);

function typed(i: Instruction, escape: string): Typed {
  const parse = PARSERS.get(i.keyword.toLowerCase());
  if (parse === undefined) {
    const hint = suggestLike(i.keyword, INSTRUCTION_NAMES, false);
    throw new InstructionError(`unknown instruction: ${i.keyword}${hint !== undefined ? ` (did you mean ${hint}?)` : ''}`);
  }
  return parse({ i, base: { range: i.range, source: i }, args: nodeArgs(i), flags: new Flags(i.flags), escape });
}

function parseCopy({ i, base, args, flags, escape }: Parsing, kind: 'ADD' | 'COPY'): CopyInstruction {
  if (args.length < 2) throw new InstructionError(`${kind} requires at least two arguments, but only one was provided. Destination could not be determined`);
  flags.string('chown').string('chmod').bool('link').strings('exclude');
  if (kind === 'ADD') flags.bool('keep-git-dir').string('checksum').bool('unpack');
  else flags.string('from').bool('parents');
  flags.parse();
  const sd = heredocSources(i, kind);
  const from = flags.get('from');
  if (from !== undefined && from !== '') {
    checkNoVariables(from, escape, 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
  }
  const c: CopyInstruction = {
    kind, ...base, ...sd,
    link: flags.isTrue('link'),
    parents: flags.isTrue('parents'),
    exclude: flags.list('exclude'),
  };
  if (from !== undefined && from !== '') c.from = from;
  for (const k of ['chown', 'chmod', 'checksum'] as const) {
    const v = flags.get(k);
    if (v !== undefined && v !== '') c[k] = v;
  }
  if (flags.used.has('keep-git-dir')) c.keepGitDir = flags.isTrue('keep-git-dir');
  if (flags.used.has('unpack')) c.unpack = flags.isTrue('unpack');
  return c;
}

function parseFrom({ base, args, flags }: Parsing): FromInstruction {
  let stageName: string | undefined;
  if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
    stageName = (args[2] as string).toLowerCase();
    if (!VALID_STAGE_NAME.test(stageName)) {
      throw new InstructionError(`invalid name for build stage: ${goQuote(args[2] as string)}, name can't start with a number or contain symbols`);
    }
  } else if (args.length !== 1) {
    throw new InstructionError('FROM requires either one or three arguments');
  }
  flags.string('platform').parse();
  const f: FromInstruction = { kind: 'FROM', ...base, image: args[0] as string };
  if (stageName !== undefined) f.stageName = stageName;
  const platform = flags.get('platform');
  if (platform !== undefined && platform !== '') f.platform = platform;
  return f;
}

function parseOnbuild({ i, base, args, flags }: Parsing): Typed {
  if (args.length === 0) throw atLeastOne('ONBUILD');
  flags.parse();
  const trigger = goTrimSpace(args[0] as string).toUpperCase();
  if (trigger === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = i.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, '');
  for (const h of i.heredocs) expression += '\n' + h.content + h.name;
  return { kind: 'ONBUILD', ...base, expression };
}

function parseRun({ i, base, args, flags, escape }: Parsing): RunInstruction {
  flags.strings('device').strings('mount').string('network').string('security').parse();
  const devices = flags.list('device').map(parseDevice);
  // Stock BuildKit parses --device but refuses it outside its -labs frontend; kiln has no CDI devices.
  if (devices.length > 0) throw new InstructionError('device feature is only supported in Dockerfile frontend 1.14.0-labs or later');
  const mountSpecs = flags.list('mount');
  const mounts = mountsOf(mountSpecs, escape);
  const network = flags.get('network') ?? 'default';
  if (!['default', 'none', 'host'].includes(network)) throw new InstructionError(`invalid network mode ${goQuote(network)}`);
  const security = flags.get('security') ?? 'sandbox';
  if (!['sandbox', 'insecure'].includes(security)) throw new InstructionError(`security ${goQuote(security)} is not valid`);
  if (args.length === 0) throw atLeastOne('RUN');
  return {
    kind: 'RUN', ...base,
    command: commandLine(args, i.json),
    // `<<-` bodies lose their leading tabs here too (what runs and what history shows).
    heredocs: i.heredocs.map((h) => (h.chomp ? { ...h, content: chompHeredocContent(h.content) } : h)),
    mounts,
    mountSpecs,
    network: network as RunInstruction['network'],
    security: security as RunInstruction['security'],
    devices,
  };
}

function parseHealthcheck({ i, base, args, flags }: Parsing): HealthcheckInstruction {
  if (args.length === 0) throw atLeastOne('HEALTHCHECK');
  const typ = (args[0] as string).toUpperCase();
  const rest = args.slice(1);
  if (typ === 'NONE') {
    if (rest.length !== 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...base, test: ['NONE'] };
  }
  flags.string('interval').string('timeout').string('start-period').string('start-interval').string('retries').parse();
  if (typ !== 'CMD') throw new InstructionError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
  const cmd = rest.length === 0 ? [] : i.json ? rest : [rest.join(' ')];
  if (cmd.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
  const h: HealthcheckInstruction = { kind: 'HEALTHCHECK', ...base, test: [i.json ? 'CMD' : 'CMD-SHELL', ...cmd] };
  const interval = duration(flags, 'interval');
  const timeout = duration(flags, 'timeout');
  const startPeriod = duration(flags, 'start-period');
  const startInterval = duration(flags, 'start-interval');
  if (interval !== undefined) h.interval = interval;
  if (timeout !== undefined) h.timeout = timeout;
  if (startPeriod !== undefined) h.startPeriod = startPeriod;
  if (startInterval !== undefined) h.startInterval = startInterval;
  const retries = flags.get('retries');
  if (retries !== undefined && retries !== '') h.retries = healthcheckRetries(retries);
  return h;
}

/** --retries as Go's strconv.ParseInt reads a 32-bit int, and not negative. */
function healthcheckRetries(retries: string): number {
  if (!/^[+-]?[0-9]+$/.test(retries)) throw new InstructionError(`strconv.ParseInt: parsing ${goQuote(retries)}: invalid syntax`);
  const n = Number(retries);
  if (n > 2147483647 || n < -2147483648) throw new InstructionError(`strconv.ParseInt: parsing ${goQuote(retries)}: value out of range`);
  if (n < 0) throw new InstructionError(`--retries cannot be negative (${n})`);
  return n;
}

function parseArg({ base, args }: Parsing): ArgInstruction {
  if (args.length < 1) throw atLeastOne('ARG');
  const list: ArgInstruction['args'] = args.map((a) => {
    const eq = a.indexOf('=');
    if (eq < 0) return { key: a };
    if (eq === 0) throw new InstructionError('ARG names can not be blank');
    return { key: a.slice(0, eq), value: a.slice(eq + 1) };
  });
  return { kind: 'ARG', ...base, args: list };
}

function located(i: Instruction, message: string): ParseError {
  return new ParseError(message, i.range.start.line, i.range.start.column, i.sourceLine);
}

/**
 * Validates a parsed Dockerfile into stages of typed instructions. Throws ParseError with
 * BuildKit's message at the offending instruction.
 */
export function toRecipe(df: Dockerfile): Recipe {
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const i of df.instructions) {
    let t: Typed;
    try {
      t = typed(i, df.escape);
    } catch (e) {
      if (e instanceof InstructionError) throw located(i, e.message);
      throw e;
    }
    if (t.kind === 'FROM') {
      const stage: Stage = { index: stages.length, from: t, instructions: [] };
      if (t.stageName !== undefined) stage.name = t.stageName;
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (t.kind === 'ARG') { metaArgs.push(t); continue; }
      throw located(i, 'no build stage in current context');
    }
    current.instructions.push(t);
  }
  if (stages.length === 0) {
    const last = df.instructions[df.instructions.length - 1] as Instruction;
    throw located(last, 'dockerfile contains no stages to build');
  }
  return { metaArgs, stages, escape: df.escape, directives: df.directives, parseWarnings: df.warnings };
}
