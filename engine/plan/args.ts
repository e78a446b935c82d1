/**
 * ARG and ENV scoping as BuildKit applies it:
 * - ARGs before the first FROM (plus the automatic platform ARGs) are visible to FROM lines only;
 * - inside a stage an ARG is visible from its line on; `--build-arg` beats its default; a bare
 *   `ARG NAME` takes the global value;
 * - ENV beats an ARG of the same name;
 * - declared ARGs reach RUN as environment variables (not the image config); the proxy
 *   variables reach RUN from `--build-arg` without being declared.
 */
import type { ArgInstruction } from '../../grammar/recipe.js';
import type { Lookup, WordExpander } from './expander.js';
import type { BuildArgs } from './buildArgs.js';

export const PROXY_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

export interface DeclaredArg { key: string; value: string | undefined }

/** A global ARG whose default does not expand (`${NAME:?message}` with NAME unset). */
export class ArgExpansionError extends Error {
  constructor(message: string, readonly where: ArgInstruction) { super(message); }
}

/** Global ARG values for FROM lines: the automatic ones, then each meta ARG in order. */
export function evaluateGlobalArgs(
  metaArgs: readonly ArgInstruction[], buildArgs: BuildArgs,
  automatic: ReadonlyMap<string, string>, expander: WordExpander,
): Map<string, string | undefined> {
  const globals = new Map<string, string | undefined>(automatic);
  for (const instr of metaArgs) {
    for (const arg of instr.args) {
      let value: string | undefined;
      try {
        value = arg.value === undefined ? undefined : expander.word(arg.value, (n) => globals.get(n));
      } catch (e) {
        throw new ArgExpansionError((e as Error).message, instr);
      }
      if (buildArgs.has(arg.key)) value = buildArgs.get(arg.key);
      globals.set(arg.key, value);
    }
  }
  return globals;
}

/** Parses `KEY=VALUE` lines of an image config's Env into a map (later entries win). */
export function envToMap(env: readonly string[] | undefined | null): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 0) m.set(kv, '');
    else m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

/** The ARGs a stage has declared so far; copied when another stage builds FROM it. */
export class StageArgs {
  private readonly declared: DeclaredArg[];

  constructor(
    private readonly globals: ReadonlyMap<string, string | undefined>,
    private readonly buildArgs: BuildArgs,
    inherited: readonly DeclaredArg[] = [],
  ) {
    this.declared = [...inherited];
  }

  get list(): readonly DeclaredArg[] { return this.declared; }

  fork(): StageArgs { return new StageArgs(this.globals, this.buildArgs, this.declared); }

  /** `ARG key[=default]`: the default is expanded in the scope before this line. */
  declare(key: string, rawDefault: string | undefined, env: readonly string[] | undefined, expander: WordExpander): DeclaredArg {
    let value = rawDefault === undefined ? undefined : expander.word(rawDefault, this.lookup(env));
    if (value === undefined && this.globals.has(key)) value = this.globals.get(key);
    if (this.buildArgs.has(key)) value = this.buildArgs.get(key);
    const arg = { key, value };
    // Declared again: the new value, in the place of the first declaration (RUN's `|N …` history order).
    const at = this.declared.findIndex((a) => a.key === key);
    if (at >= 0) this.declared[at] = arg;
    else this.declared.push(arg);
    return arg;
  }

  /** Variable lookup for an instruction: the image's ENV first, then declared ARGs. */
  lookup(env: readonly string[] | undefined): Lookup {
    const envMap = envToMap(env);
    return (name) => {
      if (envMap.has(name)) return envMap.get(name);
      for (let i = this.declared.length - 1; i >= 0; i--) {
        const a = this.declared[i] as DeclaredArg;
        if (a.key === name) return a.value;
      }
      return undefined;
    };
  }

  /** The environment a RUN sees: image ENV, declared ARGs with a value that ENV doesn't set, undeclared proxy build-args. */
  runEnv(env: readonly string[] | undefined): string[] {
    const envMap = envToMap(env);
    const out = [...(env ?? [])];
    const seen = new Set(envMap.keys());
    for (const a of this.declared) {
      if (a.value === undefined || seen.has(a.key)) continue;
      out.push(`${a.key}=${a.value}`);
      seen.add(a.key);
    }
    // A proxy build arg reaches RUN under both spellings (HTTP_PROXY and http_proxy), as
    // BuildKit's proxy environment sets them; a spelling given itself keeps its own value.
    for (const [k, v] of this.buildArgs) {
      if (!PROXY_ARGS.has(k)) continue;
      for (const name of [k, k === k.toUpperCase() ? k.toLowerCase() : k.toUpperCase()]) {
        if (seen.has(name)) continue;
        out.push(`${name}=${this.buildArgs.get(name) ?? v}`);
        seen.add(name);
      }
    }
    return out;
  }

  /** `|N K=V …` prefix of a RUN's history line: every declared ARG, its value as the RUN sees it. */
  historyPrefix(env: readonly string[] | undefined): string {
    const envMap = envToMap(env);
    const pairs = new Map<string, string>();
    for (const a of this.declared) pairs.set(a.key, envMap.get(a.key) ?? a.value ?? '');
    if (pairs.size === 0) return '';
    return `|${pairs.size} ${[...pairs].map(([k, v]) => `${k}=${v}`).join(' ')} `;
  }
}
