/**
 * The builders compared: kiln and, where installed and working, docker (BuildKit, through
 * Debian's CLI which has the build plugin), buildah with --layers, and podman.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Builder {
  name: string;
  build(dockerfile: string, context: string, tag: string): string[];
  /** `run --rm IMAGE true`, when the tool runs images. */
  run?(tag: string): string[];
  env: NodeJS.ProcessEnv;
}

/** Whether a command runs and exits 0 (a peer's `info`, say). */
export function works(argv: string[]): boolean {
  try {
    execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

export function kiln(kilnBin: string, storeRoot: string): Builder {
  return {
    name: 'kiln',
    env: { ...process.env, KILN_ROOT: storeRoot },
    build: (df, ctx, tag) => [kilnBin, 'build', '-q', '-t', tag, '-f', df, ctx],
    run: (tag) => [kilnBin, 'run', '--rm', tag, 'true'],
  };
}

/**
 * kiln with its copy snapshotter (a store of its own): what a build costs where overlayfs cannot
 * mount (an unprivileged CI container), side by side with the overlay path.
 */
export function kilnCopy(kilnBin: string, storeRoot: string): Builder {
  const { run: _run, ...builds } = kiln(kilnBin, storeRoot);
  return { ...builds, name: 'kiln-copy', env: { ...process.env, KILN_ROOT: storeRoot, KILN_SNAPSHOTTER: 'copy' } };
}

/** The peers that answer on this machine, each with why it is missing otherwise. */
export function peers(wanted: Set<string>): { found: Builder[]; missing: string[] } {
  const found: Builder[] = [];
  const missing: string[] = [];
  if (wanted.has('docker')) {
    if (existsSync('/usr/bin/docker') && works(['/usr/bin/docker', 'info'])) {
      found.push({
        name: 'docker',
        env: { ...process.env, DOCKER_BUILDKIT: '1' },
        build: (df, ctx, tag) => ['/usr/bin/docker', 'build', '-q', '-t', tag, '-f', df, ctx],
        run: (tag) => ['/usr/bin/docker', 'run', '--rm', tag, 'true'],
      });
    } else missing.push('docker (no daemon answering /usr/bin/docker info)');
  }
  if (wanted.has('buildah')) {
    if (works(['buildah', '--version'])) {
      found.push({ name: 'buildah', env: process.env, build: (df, ctx, tag) => ['buildah', 'bud', '--layers', '-q', '-t', tag, '-f', df, ctx] });
    } else missing.push('buildah (not installed)');
  }
  if (wanted.has('podman')) {
    if (works(['podman', '--version'])) {
      found.push({
        name: 'podman',
        env: process.env,
        build: (df, ctx, tag) => ['podman', 'build', '-q', '-t', tag, '-f', df, ctx],
        run: (tag) => ['podman', 'run', '--rm', tag, 'true'],
      });
    } else missing.push('podman (not installed)');
  }
  return { found, missing };
}
