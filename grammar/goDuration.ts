/**
 * Go's `time.ParseDuration` (HEALTHCHECK --interval etc. are Go durations): a signed
 * sequence of decimal numbers with units ns, us (µs, μs), ms, s, m, h; "0" alone is allowed.
 * Returns nanoseconds. Messages match Go's.
 */
const UNITS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

export class DurationError extends Error {}

const quote = (s: string): string => JSON.stringify(s);

export function parseGoDuration(input: string): number {
  let s = input;
  let negative = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) { negative = s[0] === '-'; s = s.slice(1); }
  if (s === '0') return 0;
  if (s === '') throw new DurationError(`time: invalid duration ${quote(input)}`);
  let total = 0;
  while (s !== '') {
    const num = /^([0-9]*)(\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const intPart = num[1] as string;
    const fracPart = num[3] ?? '';
    if (intPart === '' && fracPart === '') throw new DurationError(`time: invalid duration ${quote(input)}`);
    s = s.slice(num[0].length);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (!unitMatch) throw new DurationError(`time: missing unit in duration ${quote(input)}`);
    const unit = unitMatch[0];
    const mult = Object.hasOwn(UNITS, unit) ? UNITS[unit] : undefined;
    if (mult === undefined) throw new DurationError(`time: unknown unit ${quote(unit)} in duration ${quote(input)}`);
    s = s.slice(unit.length);
    const value = Number(`${intPart === '' ? '0' : intPart}.${fracPart === '' ? '0' : fracPart}`) * mult;
    total += value;
    if (total > 9223372036854775807) throw new DurationError(`time: invalid duration ${quote(input)}`);
  }
  return Math.round(negative ? -total : total);
}
