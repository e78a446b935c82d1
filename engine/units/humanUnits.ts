/**
 * Sizes and ages the way docker prints them (docker/go-units HumanSize, BytesSize and
 * HumanDuration): for the CLI's tables and for the errors that say how much space a write
 * needed. A room under both, as errors/ and host/ are under everything, so neither reaches
 * into the other for it.
 */

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** 4.26MB, 832B: decimal units, three significant digits. */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, SIZE_UNITS, 3);
}

/** 1.5MiB, 7.63GiB: binary units, four significant digits (go-units BytesSize: docker stats' memory). */
export function binarySize(bytes: number): string {
  return scaled(bytes, 1024, BINARY_UNITS, 4);
}

function scaled(bytes: number, base: number, units: readonly string[], digits: number): string {
  let size = bytes;
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${Number(size.toPrecision(digits))}${units[i]}`;
}

/** "2 hours", "About a minute", "Less than a second". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** "3 days ago" for an RFC 3339 time; "N/A" when there is none. */
export function humanAgo(time: string | undefined, now = Date.now()): string {
  if (!time) return 'N/A';
  const t = Date.parse(time);
  if (Number.isNaN(t)) return 'N/A';
  return `${humanDuration(Math.max(0, now - t))} ago`;
}
