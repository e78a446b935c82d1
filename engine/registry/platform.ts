/**
 * Platforms (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`) normalised as containerd's
 * platforms package does, and matched against index entries.
 */
import { arch } from 'node:process';
import { KilnError } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

function normaliseArch(architecture: string, variant: string | undefined): { architecture: string; variant: string | undefined } {
  const a = architecture.toLowerCase();
  const v = variant?.toLowerCase() || undefined;
  switch (a) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? undefined : v };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: v === 'v8' ? undefined : v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      return { architecture: 'arm', variant: v ?? 'v7' };
    case 'i386':
    case 'i686':
    case '386':
      return { architecture: '386', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

export function normalisePlatform(p: Platform): Platform {
  const { architecture, variant } = normaliseArch(p.architecture, p.variant);
  return variant === undefined ? { os: p.os.toLowerCase(), architecture } : { os: p.os.toLowerCase(), architecture, variant };
}

/** Parses `os/arch[/variant]` (as --platform); a bare arch means linux. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) {
    throw new KilnError('INVALID_PLATFORM', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64`, { exitCode: 2 });
  }
  if (parts.length === 1) return normalisePlatform({ os: 'linux', architecture: parts[0] as string });
  return normalisePlatform({ os: parts[0] as string, architecture: parts[1] as string, variant: parts[2] });
}

/** The platform this process runs on, in OCI terms (Node's `x64` is `amd64`). */
export function hostPlatform(): Platform {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalisePlatform({ os: 'linux', architecture: map[arch] ?? arch });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const a = normalisePlatform(wanted);
  const b = normalisePlatform(candidate);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  // A wanted variant must match; an unspecified wanted variant accepts any.
  return a.variant === undefined || a.variant === b.variant;
}
