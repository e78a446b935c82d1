/**
 * Running kiln as the unprivileged user `kilnrootless` (made by .ci/setup with /etc/subuid and
 * /etc/subgid ranges) from a root test: a temp dir the user owns (store, TMPDIR), the CLI where
 * that user can read it, and a helper that runs a command as the user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand, isRoot, repoRoot } from './env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';

export const ROOTLESS_USER = 'kilnrootless';

function userExists(name: string): boolean {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A user with no /etc/subuid range (also from .ci/setup). */
export const NO_SUBIDS_USER = 'kilnnosubids';

export const rootlessReady = isRoot && haveBusybox && hasCommand('setpriv') && userExists(ROOTLESS_USER);
export const noSubidsUserExists = userExists(NO_SUBIDS_USER);
export const rootlessWhy = `needs root (to become ${ROOTLESS_USER}), setpriv, /bin/busybox and the ${ROOTLESS_USER} user from .ci/setup`;

export interface RunResult { status: number | null; stdout: string; stderr: string }

export interface AsUserOptions {
  check?: boolean;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Default: ROOTLESS_USER. */
  user?: string;
}

export interface RootlessSession {
  /** Temp dir owned by the user; the store is root/store. */
  root: string;
  env: NodeJS.ProcessEnv;
  /** bin/kiln as the user can reach it. */
  kilnBin: string;
  /** Where the checkout's dist/ is, as the user can reach it. */
  kilnHome: string;
  asUser(argv: string[], opts?: AsUserOptions): RunResult;
}

export function rootlessSession(prefix: string): RootlessSession {
  // /var/tmp: the unprivileged user must own the store; the rootfs is made as that user too.
  const root = mkdtempSync(`/var/tmp/${prefix}`);
  execFileSync('chown', [`${ROOTLESS_USER}:${ROOTLESS_USER}`, root]);
  // Others may pass through (not list): a second test user runs the kiln copied in below.
  execFileSync('chmod', ['0711', root]);
  const home = execFileSync('sh', ['-c', `getent passwd ${ROOTLESS_USER} | cut -d: -f6`], { encoding: 'utf8' }).trim();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KILN_ROOT: join(root, 'store'), TMPDIR: root };
  const asUser = (argv: string[], opts: AsUserOptions = {}): RunResult => {
    const user = opts.user ?? ROOTLESS_USER;
    const r = spawnSync('setpriv', [`--reuid=${user}`, `--regid=${execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()}`, '--init-groups', '--', ...argv], {
      env: { ...env, ...opts.env }, encoding: 'utf8', timeout: 120_000, cwd: root, ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    if (opts.check && r.status !== 0) throw new Error(`${argv.join(' ')} as ${user}: ${r.stderr}`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  let kilnHome = repoRoot;
  if (asUser(['test', '-r', join(repoRoot, 'package.json')]).status !== 0) {
    // A real user installs kiln where they can read it; copy what runs (not the sources).
    kilnHome = join(root, 'kiln');
    mkdirSync(join(kilnHome, 'native', 'build'), { recursive: true });
    for (const part of ['package.json', 'bin', 'dist', 'node_modules', 'native/build/Release']) {
      execFileSync('cp', ['-a', join(repoRoot, part), join(kilnHome, part)]);
    }
    execFileSync('chmod', ['-R', 'a+rX', kilnHome]);
  }
  return { root, env, kilnBin: join(kilnHome, 'bin', 'kiln'), kilnHome, asUser };
}
