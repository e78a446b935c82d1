/**
 * The checks BuildKit makes while it dispatches a stage's instructions, which need the stage's
 * scope: the variables set so far (the base's ENV, ENV and ARG lines), the ARGs declared, whether
 * a SHELL or an absolute WORKDIR was set, and the CMD/ENTRYPOINT/HEALTHCHECK already given. A
 * stage built on another starts from that stage's scope, as BuildKit's does.
 */
import type { Instruction } from '../../../grammar/ast.js';
import { ExpansionError, ShellWordExpander } from '../../../grammar/expand.js';
import { csvFields } from '../../../grammar/mount.js';
import type { CopyInstruction, KeyValue, Stage, StageInstruction } from '../../../grammar/recipe.js';
import { IgnoreMatcher } from '../../context/dockerignore.js';
import type { Findings, LineRange } from './findings.js';
import { linesOf } from './syntaxChecks.js';
import * as rules from './rules.js';
import { suggestLike } from '../../../grammar/suggest.js';
import type { BuildArgs } from '../buildArgs.js';

/** A stage's scope while its instructions are checked. */
export interface StageScope {
  /** Variables set for the next instruction, in the order first set (BuildKit's state env). */
  env: Map<string, string>;
  /** Every ARG declared so far, valued or not. */
  declared: Set<string>;
  /** The image config has a SHELL (a CMD in shell form then runs through it). */
  shell: boolean;
  /** An absolute WORKDIR was given in this build (here or in a stage this one is built on). */
  workdirSet: boolean;
}

export interface StageCheckContext {
  findings: Findings;
  /** The Dockerfile's escape character. */
  escape: string;
  buildArgs: BuildArgs;
  /** Global ARG values (automatic ones and the meta ARGs), which a bare `ARG NAME` imports. */
  globals: ReadonlyMap<string, string>;
  /** `.dockerignore` patterns (CopyIgnoredFile). */
  ignorePatterns: readonly string[];
}

export function cloneScope(s: StageScope): StageScope {
  return { env: new Map(s.env), declared: new Set(s.declared), shell: s.shell, workdirSet: s.workdirSet };
}

/** Thrown where the build itself would stop with an error: BuildKit checks nothing after that. */
class BuildStops extends Error {}

/** The variables BuildKit never reports as undefined (its SBOM scan switches). */
const NOT_ENV = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/** Secret-looking names: a whole word (`_`-separated) of the deny list and none of the allow list. */
const SECRET_WORD = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const PUBLIC_WORD = /(?:_|^)(?:public)(?:_|$)/i;

class StageChecker {
  private readonly word: ShellWordExpander;
  private readonly raw = new ShellWordExpander('\\', { skipProcessQuotes: true });
  readonly tracked = new Map<string, LineRange[]>();
  private ignore: IgnoreMatcher | null | undefined;

  /** `triggersAt`: these instructions are inherited ONBUILD triggers, which BuildKit locates at the stage's FROM. */
  constructor(private readonly ctx: StageCheckContext, private readonly scope: StageScope, private readonly triggersAt?: LineRange[], before?: StageChecker) {
    this.word = new ShellWordExpander(ctx.escape);
    // CMD, ENTRYPOINT and HEALTHCHECK a trigger gave count for the stage's own lines too.
    if (before) for (const [k, v] of before.tracked) this.tracked.set(k, v);
  }

  private report(rule: rules.CheckRule, at: { range: Instruction['range'] } | LineRange[], message: string): void {
    this.ctx.findings.report(rule, Array.isArray(at) ? at : this.locate(at), message);
  }

  private locate(at: { range: Instruction['range'] }): LineRange[] {
    return this.triggersAt ?? linesOf(at);
  }

  /** Expands one word in the current scope, reporting variables it uses that nothing defined. */
  private expand(text: string, instr: StageInstruction, expander = this.word): string {
    const env = this.scope.env;
    let r;
    try {
      r = expander.process(text, (n) => env.get(n));
    } catch (e) {
      if (e instanceof ExpansionError) throw new BuildStops(e.message);
      throw e;
    }
    for (const name of r.unmatched) {
      if (this.scope.declared.has(name) || NOT_ENV.has(name)) continue;
      this.report(rules.UndefinedVar, instr, rules.messages.undefinedVar(name, suggestLike(name, [...env.keys()], true)));
    }
    return r.result;
  }

  private secret(instruction: 'ARG' | 'ENV', key: string, instr: StageInstruction): void {
    if (SECRET_WORD.test(key) && !PUBLIC_WORD.test(key)) this.report(rules.SecretsUsedInArgOrEnv, instr, rules.messages.secretsUsedInArgOrEnv(instruction, key));
  }

  /** CMD, ENTRYPOINT and HEALTHCHECK: a second one makes the first pointless (reported there). */
  private usedOnce(name: string, instr: StageInstruction): void {
    const previous = this.tracked.get(name);
    if (previous) this.report(rules.MultipleInstructionsDisallowed, previous, rules.messages.multipleInstructionsDisallowed(name));
    this.tracked.set(name, this.locate(instr));
  }

  /** Words BuildKit expands before it dispatches the instruction (its SupportsSingleWordExpansion). */
  private expandWords(instr: StageInstruction): void {
    switch (instr.kind) {
      case 'ENV': case 'LABEL':
        for (const p of instr.pairs) { this.expand(p.key, instr); this.expand(p.value, instr); }
        return;
      case 'ADD': case 'COPY':
        this.expandCopy(instr);
        return;
      case 'WORKDIR': this.expand(instr.path, instr); return;
      case 'USER': this.expand(instr.user, instr); return;
      case 'VOLUME':
        for (const v of instr.paths) if (this.expand(v, instr) === '') throw new BuildStops('VOLUME specified can not be an empty string');
        return;
      case 'STOPSIGNAL': this.expand(instr.signal, instr); return;
      case 'RUN':
        for (const spec of instr.mountSpecs) {
          let fields: string[];
          try { fields = csvFields(spec); } catch { return; }
          for (const f of fields) if (f.includes('=')) this.expand(f.slice(f.indexOf('=') + 1), instr);
        }
        return;
      default:
    }
  }

  private expandCopy(instr: CopyInstruction): void {
    this.expand(instr.chown ?? '', instr);
    this.expand(instr.chmod ?? '', instr);
    if (instr.kind === 'ADD') this.expand(instr.checksum ?? '', instr);
    for (const s of instr.sources) this.expand(s, instr);
    this.expand(instr.dest, instr);
    for (const h of instr.heredocs) if (h.expand) this.expand(h.content, instr, this.raw);
  }

  check(instr: StageInstruction): void {
    if (instr.kind !== 'ARG') this.expandWords(instr);
    switch (instr.kind) {
      case 'ENV':
        instr.pairs.forEach((p, j) => {
          if (legacyPair(instr.source, j)) this.report(rules.LegacyKeyValueFormat, instr, rules.messages.legacyKeyValueFormat(instr.source.keyword));
          this.secret('ENV', this.plain(p.key), instr);
        });
        // All values read the scope as it was before this line (BuildKit expands them first).
        for (const [k, v] of instr.pairs.map((p) => this.pairValue(p))) this.setEnv(k, v);
        return;
      case 'LABEL':
        instr.pairs.forEach((_, j) => {
          if (legacyPair(instr.source, j)) this.report(rules.LegacyKeyValueFormat, instr, rules.messages.legacyKeyValueFormat(instr.source.keyword));
        });
        return;
      case 'CMD': case 'ENTRYPOINT':
        this.usedOnce(instr.kind, instr);
        if (instr.command.form === 'shell' && !this.scope.shell) this.report(rules.JSONArgsRecommended, instr, rules.messages.jsonArgsRecommended(instr.kind));
        return;
      case 'HEALTHCHECK': this.usedOnce(instr.kind, instr); return;
      case 'SHELL': this.scope.shell = true; return;
      case 'WORKDIR': this.workdir(instr.path, instr); return;
      case 'ARG': this.arg(instr); return;
      case 'EXPOSE': this.expose(instr); return;
      case 'ADD': case 'COPY': this.ignoredSources(instr); return;
      default:
    }
  }

  /** A word's value without reporting again (it was reported when first expanded). */
  private plain(text: string): string {
    try { return this.word.processWord(text, (n) => this.scope.env.get(n)); } catch { return text; }
  }

  private pairValue(p: KeyValue): [string, string] {
    return [this.plain(p.key), this.plain(p.value)];
  }

  private setEnv(key: string, value: string): void {
    this.scope.env.set(key, value);
  }

  private workdir(raw: string, instr: StageInstruction): void {
    const path = this.plain(raw);
    if (!this.scope.workdirSet && !path.startsWith('/')) this.report(rules.WorkdirRelativePath, instr, rules.messages.workdirRelativePath(path));
    this.scope.workdirSet = true;
  }

  private arg(instr: Extract<StageInstruction, { kind: 'ARG' }>): void {
    for (const a of instr.args) {
      this.secret('ARG', a.key, instr);
      let value: string | undefined;
      if (this.ctx.buildArgs.has(a.key)) value = this.ctx.buildArgs.get(a.key);
      else if (a.value !== undefined) value = this.expand(a.value, instr);
      else value = this.ctx.globals.get(a.key);
      if (value !== undefined && !NOT_ENV.has(a.key)) this.setEnv(a.key, value);
      this.scope.declared.add(a.key);
    }
  }

  private expose(instr: Extract<StageInstruction, { kind: 'EXPOSE' }>): void {
    for (const spec of instr.ports) {
      let words: string[];
      try { words = this.word.processWords(spec, (n) => this.scope.env.get(n)); } catch (e) { throw new BuildStops((e as Error).message); }
      for (const port of words) {
        // [ip:][hostPort:]port[/proto], split as BuildKit's portSpecs.splitParts does.
        const parts = port.split(':');
        const n = parts.length;
        const ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
        const hostPort = n >= 2 ? (parts[n - 2] as string) : '';
        const [number, proto = ''] = (parts[n - 1] as string).split(/\/(.*)/s) as [string, string?];
        if (number === '' || !['', 'tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new BuildStops(`invalid port: ${port}`);
        if (proto !== proto.toLowerCase()) this.report(rules.ExposeProtoCasing, instr, rules.messages.exposeProtoCasing(port));
        if (ip !== '' || hostPort !== '') this.report(rules.ExposeInvalidFormat, instr, rules.messages.exposeInvalidFormat(port));
      }
    }
  }

  /** CopyIgnoredFile: a source from the context that .dockerignore leaves out. */
  private ignoredSources(instr: CopyInstruction): void {
    if (instr.from !== undefined || !this.ctx.findings.enabled(rules.CopyIgnoredFile)) return;
    if (this.ignore === undefined) {
      try { this.ignore = this.ctx.ignorePatterns.length > 0 ? new IgnoreMatcher(this.ctx.ignorePatterns) : null; } catch { this.ignore = null; }
    }
    if (this.ignore === null) return;
    for (const raw of instr.sources) {
      const src = this.plain(raw);
      if (/^https?:\/\//.test(src) || (instr.kind === 'ADD' && isGitSource(src))) continue;
      if (this.ignore.excludes(src.replace(/^\/+/, ''))) {
        this.report(rules.CopyIgnoredFile, instr, rules.messages.copyIgnoredFile(instr.kind === 'ADD' ? 'Add' : 'Copy', src));
      }
    }
  }
}

function isGitSource(src: string): boolean {
  return /^git@|^git:\/\/|^ssh:\/\/|\.git(#|$)/.test(src);
}

/** ENV/LABEL `key value` (no `=`): BuildKit's parser leaves the pair's separator empty. */
function legacyPair(source: Instruction, index: number): boolean {
  return source.args[index * 3 + 2]?.value === '';
}

/**
 * Checks a stage's instructions in order (after the ONBUILD triggers it inherits), updating `scope` as BuildKit's dispatch would. False
 * when an instruction would stop the build (a word that cannot be expanded, an empty VOLUME, a
 * bad EXPOSE port): BuildKit checks nothing past that point, in this stage or any later one.
 */
export function checkStage(stage: Stage, scope: StageScope, ctx: StageCheckContext, triggers: readonly StageInstruction[] = []): boolean {
  try {
    const inherited = new StageChecker(ctx, scope, linesOf(stage.from));
    for (const instr of triggers) inherited.check(instr);
    const checker = new StageChecker(ctx, scope, undefined, inherited);
    for (const instr of stage.instructions) checker.check(instr);
  } catch (e) {
    if (e instanceof BuildStops) return false;
    throw e;
  }
  return true;
}
