/** Platforms (`os/arch[/variant]`) and the automatic platform ARGs BuildKit defines. */

export interface Platform { os: string; architecture: string; variant?: string }

const NODE_TO_GO: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const architecture = NODE_TO_GO[process.arch] ?? process.arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}

export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new Error(`invalid platform "${text}": expected os/arch[/variant]`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  const arch = architecture === 'x86_64' ? 'amd64' : architecture === 'aarch64' ? 'arm64' : architecture;
  if (variant !== undefined) return { os, architecture: arch, variant };
  return arch === 'arm64' ? { os, architecture: arch, variant: 'v8' } : { os, architecture: arch };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** The global-scope ARGs every build has (dockerfile2llb/platform.go defaultArgs). */
export function automaticArgs(build: Platform, target: Platform, targetStage: string): Map<string, string> {
  return new Map([
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage],
  ]);
}
