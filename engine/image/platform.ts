/**
 * Platforms (`linux/amd64`, `linux/arm64`, `linux/arm/v7`): kiln's one Platform type, parsed
 * and normalised as containerd's platforms package (which BuildKit uses) does, so `--platform`,
 * `FROM --platform`, the automatic platform ARGs, an image's config and the choice of an index
 * entry all agree:
 * - `x86_64`/`x86-64` are `amd64` (variant `v1` dropped), `aarch64` is `arm64` (`v8` dropped:
 *   the base of arm64; `v9` kept), `armhf`/`armel` are `arm/v7`/`arm/v6`, a bare `arm` is
 *   `arm/v7`, `i386` is `386`;
 * - a specifier may be `os/arch[/variant]`, a bare architecture (`arm64`: linux) or a bare known
 *   OS (`linux`: this machine's architecture).
 */
import { arch } from 'node:process';
import { KilnError } from '../errors/kilnError.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const NODE_TO_GO: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/** The operating systems Go knows (go/build's syslist), for a specifier that names only one. */
const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);

function normaliseArch(architecture: string, variant: string | undefined): { architecture: string; variant: string | undefined } {
  const a = architecture.toLowerCase();
  const v = variant?.toLowerCase() || undefined;
  switch (a) {
    case 'i386':
      return { architecture: '386', variant: undefined };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? undefined : v };
    case 'aarch64':
    case 'arm64':
      if (v === '8' || v === 'v8' || v === 'v8.0') return { architecture: 'arm64', variant: undefined };
      if (v === '9' || v === '9.0' || v === 'v9.0') return { architecture: 'arm64', variant: 'v9' };
      return { architecture: 'arm64', variant: v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === undefined || v === '7') return { architecture: 'arm', variant: 'v7' };
      if (v === '5' || v === '6' || v === '8') return { architecture: 'arm', variant: `v${v}` };
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

export function normalisePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  const { architecture, variant } = normaliseArch(p.architecture, p.variant);
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** The platform this process runs on, normalised (Node's `x64` is `amd64`; an arm64 machine is `linux/arm64`). */
export function hostPlatform(): Platform {
  return normalisePlatform({ os: 'linux', architecture: NODE_TO_GO[arch] ?? arch });
}

/** Parses a specifier: `os/arch[/variant]`, a bare architecture or a bare OS (see above). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) {
    throw new KilnError('INVALID_PLATFORM', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64`, { exitCode: 2 });
  }
  if (parts.length === 1) {
    const only = (parts[0] as string).toLowerCase();
    return KNOWN_OS.has(only) ? { ...hostPlatform(), os: only } : normalisePlatform({ os: 'linux', architecture: only });
  }
  return normalisePlatform({ os: parts[0] as string, architecture: parts[1] as string, variant: parts[2] });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** Whether an index entry's platform serves a wanted one: same OS and architecture; a wanted variant must match, none accepts any. */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const a = normalisePlatform(wanted);
  const b = normalisePlatform(candidate);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  return a.variant === undefined || a.variant === b.variant;
}
