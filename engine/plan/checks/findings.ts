/**
 * What the build checks found, collected in the order BuildKit reports it. A rule reports only
 * when the configuration lets it: a non-experimental rule unless skipped (`skip=all` or by name),
 * an experimental one only when `experimental=` names it (or all) — skipping never silences an
 * experimental rule that was asked for, as in BuildKit's linter.
 */
import type { CheckConfig } from './checkConfig.js';
import type { CheckRule } from './rules.js';

/** Lines of the Dockerfile a finding points at (1-based, inclusive). */
export interface LineRange { start: number; end: number }

export interface CheckFinding {
  rule: string;
  description: string;
  url: string;
  message: string;
  /** Where it points; empty when nowhere (BuildKit then prints no line). */
  ranges: LineRange[];
}

export class Findings {
  readonly list: CheckFinding[] = [];
  private readonly violated: string[] = [];

  constructor(private readonly config: CheckConfig) {}

  enabled(rule: CheckRule): boolean {
    if (rule.experimental) return this.config.experimentalAll || this.config.experimental.has(rule.name);
    return !this.config.skipAll && !this.config.skip.has(rule.name);
  }

  report(rule: CheckRule, ranges: LineRange[], message: string): void {
    if (!this.enabled(rule)) return;
    if (!this.violated.includes(rule.name)) this.violated.push(rule.name);
    this.list.push({ rule: rule.name, description: rule.description, url: rule.url, message, ranges });
  }

  /** With `error=true` and a finding: the build's error, naming each rule once. */
  violation(): string | undefined {
    if (!this.config.error || this.violated.length === 0) return undefined;
    return `lint violation found for rules: ${this.violated.join(', ')}`;
  }
}

/** `Rule: message (line N)`: how BuildKit prints a finding in a build's log. */
export function shortForm(f: CheckFinding): string {
  const line = f.ranges[0]?.start ?? 0;
  return `${f.rule}: ${f.message}${line > 0 ? ` (line ${line})` : ''}`;
}
