/**
 * Times for log entries and container state, as docker writes them: RFC 3339 with nanoseconds
 * in UTC. Node's clock has milliseconds; the monotonic clock adds the rest, anchored once to
 * the wall clock, so entries written one after another keep their order to the nanosecond.
 */

/** Nanoseconds since the epoch, as a bigint. */
export type NanoTime = bigint;

const anchor = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export function nowNanos(): NanoTime {
  return anchor + process.hrtime.bigint();
}

function split(t: NanoTime): { seconds: string; fraction: string } {
  const ms = Number(t / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2026-12-06T23:45:33.489Z
  const nanos = (((t % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return { seconds: iso.slice(0, 19), fraction: nanos };
}

/** Go's time.RFC3339Nano: trailing zeros of the fraction dropped, no fraction at all when zero. */
export function rfc3339Nano(t: NanoTime): string {
  const { seconds, fraction } = split(t);
  const trimmed = fraction.replace(/0+$/, '');
  return `${seconds}${trimmed === '' ? '' : `.${trimmed}`}Z`;
}

/** docker's RFC3339NanoFixed (`docker logs -t`): always nine digits. */
export function rfc3339NanoFixed(t: NanoTime): string {
  const { seconds, fraction } = split(t);
  return `${seconds}.${fraction}Z`;
}

/**
 * Parses an RFC 3339 time with up to nine fractional digits and any offset into nanoseconds;
 * undefined when the text is not one.
 */
export function parseRfc3339(text: string): NanoTime | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}
