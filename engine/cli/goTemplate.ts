/**
 * The small part of Go templates that `--format` users reach for: `{{.Field.Sub}}`,
 * `{{json .Field}}`, `{{index .Map "key"}}`, literal text, `\n`/`\t` escapes. Anything else is
 * refused with a clear message rather than printed wrong.
 */
import { KilnError } from '../errors/kilnError.js';

function lookup(value: unknown, path: string): unknown {
  if (path === '.') return value;
  let cur = value;
  for (const key of path.split('.').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  return String(v);
}

export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, expr: string) => {
    const words = expr.match(/"[^"]*"|\S+/g) ?? [];
    if (words.length === 1 && words[0]!.startsWith('.')) return show(lookup(value, words[0]!));
    if (words.length === 2 && words[0] === 'json' && words[1]!.startsWith('.')) return JSON.stringify(lookup(value, words[1]!) ?? null);
    if (words.length === 3 && words[0] === 'index' && words[1]!.startsWith('.')) {
      const container = lookup(value, words[1]!);
      const key = words[2]!.replace(/^"|"$/g, '');
      return show(container && typeof container === 'object' ? (container as Record<string, unknown>)[key] : undefined);
    }
    throw new KilnError('BAD_FORMAT', `unsupported template expression "{{${expr}}}" (kiln supports {{.Field}}, {{json .Field}}, {{index .Map "key"}})`, { exitCode: 2 });
  });
}
