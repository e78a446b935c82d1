/**
 * Which build checks run and whether a violation fails the build: the `# check=` directive's
 * value, or the `BUILDKIT_DOCKERFILE_CHECK` build argument, which replaces the directive
 * wholly (as BuildKit's frontend does). Syntax: up to three `;`-separated options,
 * `skip=all|RULE,…`, `experimental=all|RULE,…`, `error=BOOL` (Go's ParseBool).
 */
import { goQuote } from '../../../grammar/goText.js';

export interface CheckConfig {
  skipAll: boolean;
  skip: ReadonlySet<string>;
  experimentalAll: boolean;
  experimental: ReadonlySet<string>;
  /** `error=true`: any violation fails the build before a step runs. */
  error: boolean;
}

/** The build argument that, when given, configures the checks instead of the directive. */
export const CHECK_BUILD_ARG = 'BUILDKIT_DOCKERFILE_CHECK';

export class CheckConfigError extends Error {}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function ruleList(value: string): string[] {
  return value.split(',').map((r) => r.trim());
}

/** Parses a check option string as BuildKit's linter.ParseLintOptions does. Throws CheckConfigError. */
export function parseCheckConfig(text: string): CheckConfig {
  const config = { skipAll: false, skip: new Set<string>(), experimentalAll: false, experimental: new Set<string>(), error: false };
  const trimmed = text.trim();
  if (trimmed === '') return config;
  // strings.SplitN(…, ";", 3): a third part keeps any further `;`.
  const parts = trimmed.split(';');
  const limited = parts.length > 3 ? [parts[0] as string, parts[1] as string, parts.slice(2).join(';')] : parts;
  for (const part of limited) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new CheckConfigError(`invalid check option ${goQuote(part)}`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    switch (key) {
      case 'skip':
        if (value === 'all') config.skipAll = true;
        else for (const r of ruleList(value)) config.skip.add(r);
        break;
      case 'experimental':
        if (value === 'all') config.experimentalAll = true;
        else for (const r of ruleList(value)) config.experimental.add(r);
        break;
      case 'error':
        if (GO_TRUE.has(value)) config.error = true;
        else if (GO_FALSE.has(value)) config.error = false;
        else throw new CheckConfigError(`failed to parse check option ${goQuote(part)}: strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`);
        break;
      default:
        throw new CheckConfigError(`invalid check option ${goQuote(key)}`);
    }
  }
  return config;
}
