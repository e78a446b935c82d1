import { KilnError } from '../errors/kilnError.js';
import { closestMatch } from '../../grammar/suggest.js';

/** One flag a command accepts, in docker's spelling (`--tag`, `-t`). */
export interface FlagSpec {
  name: string;
  short?: string;
  /** bool: present or not; string: last value wins; list: every value, in order. */
  kind: 'bool' | 'string' | 'list';
  description: string;
  valueName?: string;
}

export interface CommandSpec {
  name: string;
  /** Usage line after `kiln NAME`, e.g. `[OPTIONS] PATH`. */
  usage: string;
  flags: FlagSpec[];
  minArgs?: number;
  maxArgs?: number;
  /** Stop reading flags at the first positional (docker run IMAGE CMD…: the command's own flags follow). */
  stopAtFirstPositional?: boolean;
  /**
   * The verb creates, reads or removes layer files that carry in-image owners (snapshots, stage
   * views, container layers): an unprivileged user's kiln runs it in its own user namespace.
   * 'required': refused without an /etc/subuid range; 'if-mapped': run as is without one (no
   * file with a subordinate owner can exist then).
   */
  ownUserNamespace?: 'required' | 'if-mapped';
  /**
   * Run as root of the host, the verb first moves into a mount namespace of its own (see
   * runtime/ownMountNamespace.ts): what it mounts never outlives it, even killed.
   */
  ownMountNamespace?: boolean;
}

export interface ParsedArgs {
  bools: Set<string>;
  /** Bool flags given as false (`--sig-proxy=false`), for flags that default to true. */
  negated?: Set<string>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
}

export function usageError(command: string, message: string): KilnError {
  return new KilnError('USAGE', `${message}\nSee 'kiln ${command} --help'.`, { exitCode: 2 });
}

/**
 * A flag value docker's daemon refuses (`docker run --memory 1x`, `-t abc`): docker exits 125
 * for those, and prints no usage hint.
 */
export function flagValueError(message: string): KilnError {
  return new KilnError('USAGE', message, { exitCode: 125 });
}

/** A whole-number flag as docker's Go CLI reads it (strconv.ParseInt: no spaces, no fractions). */
export function integerFlag(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) throw flagValueError(`invalid argument "${text}" for "${flag}" flag: strconv.ParseInt: parsing "${text}": invalid syntax`);
  return Number(text);
}

const BOOL_VALUES = new Map([['true', true], ['1', true], ['false', false], ['0', false]]);

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { bools: new Set(), strings: new Map(), lists: new Map(), positionals: [] };
  const byLong = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short as string, f]));
  const take = (flag: FlagSpec, value: string | undefined, next: () => string | undefined, shown: string): void => {
    if (flag.kind === 'bool') {
      if (value === undefined) { parsed.bools.add(flag.name); return; }
      const b = BOOL_VALUES.get(value.toLowerCase());
      if (b === undefined) throw usageError(spec.name, `invalid boolean value "${value}" for ${shown}`);
      if (b) parsed.bools.add(flag.name); else parsed.bools.delete(flag.name);
      if (b) parsed.negated?.delete(flag.name); else (parsed.negated ??= new Set()).add(flag.name);
      return;
    }
    const v = value ?? next();
    if (v === undefined) throw usageError(spec.name, `flag needs an argument: ${shown}`);
    if (flag.kind === 'string') parsed.strings.set(flag.name, v);
    else parsed.lists.set(flag.name, [...(parsed.lists.get(flag.name) ?? []), v]);
  };

  let i = 0;
  const next = (): string | undefined => (i + 1 < argv.length ? argv[++i] : undefined);
  for (; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--') { parsed.positionals.push(...argv.slice(i + 1)); break; }
    if (word.startsWith('--') && word.length > 2) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const flag = byLong.get(name);
      if (!flag) {
        const hint = closestMatch(name, [...byLong.keys()]);
        throw usageError(spec.name, `unknown flag: --${name}${hint ? ` (did you mean --${hint}?)` : ''}`);
      }
      take(flag, eq < 0 ? undefined : word.slice(eq + 1), next, `--${name}`);
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      // Clustered short flags (-it), or a short flag with its value attached (-tname).
      for (let j = 1; j < word.length; j++) {
        const ch = word[j] as string;
        const flag = byShort.get(ch);
        if (!flag) throw usageError(spec.name, `unknown shorthand flag: '${ch}' in ${word}`);
        if (flag.kind === 'bool') { take(flag, undefined, next, `-${ch}`); continue; }
        const rest = word.slice(j + 1);
        take(flag, rest === '' ? undefined : rest.replace(/^=/, ''), next, `-${ch}`);
        break;
      }
      continue;
    }
    parsed.positionals.push(word);
    if (spec.stopAtFirstPositional) { parsed.positionals.push(...argv.slice(i + 1)); break; }
  }
  const n = parsed.positionals.length;
  if (spec.minArgs !== undefined && n < spec.minArgs) {
    throw usageError(spec.name, `"kiln ${spec.name}" requires ${spec.maxArgs === spec.minArgs ? 'exactly' : 'at least'} ${spec.minArgs} argument${spec.minArgs === 1 ? '' : 's'}.\nUsage:  kiln ${spec.name} ${spec.usage}`);
  }
  if (spec.maxArgs !== undefined && n > spec.maxArgs) {
    throw usageError(spec.name, `"kiln ${spec.name}" accepts at most ${spec.maxArgs} argument${spec.maxArgs === 1 ? '' : 's'}.\nUsage:  kiln ${spec.name} ${spec.usage}`);
  }
  return parsed;
}

/** `kiln VERB --help`: usage, the verb's summary (from the verb table), its flags. */
export function formatHelp(spec: CommandSpec, summary: string): string {
  const lines = [`Usage:  kiln ${spec.name} ${spec.usage}`, '', summary];
  if (spec.flags.length > 0) {
    lines.push('', 'Options:');
    const rows = spec.flags.map((f) => {
      const value = f.kind === 'bool' ? '' : ` ${f.valueName ?? (f.kind === 'list' ? 'list' : 'string')}`;
      return [`${f.short ? `-${f.short}, ` : '    '}--${f.name}${value}`, f.description] as const;
    });
    const width = Math.max(...rows.map(([l]) => l.length));
    for (const [left, desc] of rows) lines.push(`  ${left.padEnd(width)}   ${desc}`);
  }
  return lines.join('\n') + '\n';
}
