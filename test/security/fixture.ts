/**
 * What the security tests share: the probe (probe.c, built here with `gcc -static`) in a
 * busybox image, in a kiln store of their own and, where docker runs, imported into docker under
 * a name of this process's; and the two ways in for each probe — `kiln run` and a RUN step of a
 * Dockerfile — with the same two through docker (`docker run`, `docker build`) to compare.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitBusyboxImage, haveBusybox, makeBusyboxRootfs } from '../../harness/busyboxImage.js';
import { dockerAvailable, hasCommand, isRoot, repoRoot } from '../support/env.js';
import { runCommand, runKiln, type Result } from '../support/kilnProcess.js';
import { Store } from '../../engine/store/store.js';

export const DOCKER = '/usr/bin/docker';
export const ready = isRoot && haveBusybox && hasCommand('gcc');
export const why = 'needs root (namespaces, cgroups), /bin/busybox (busybox-static) and gcc with static glibc (libc6-dev) for the probe';
export const withDocker = ready && dockerAvailable();
export const whyDocker = `${why}, and a running dockerd to compare with (.ci/setup starts one)`;

/** Builds the probe into `dir` and returns its path. */
export function buildProbe(dir: string): string {
  const out = join(dir, 'probe');
  execFileSync('gcc', ['-static', '-O2', '-o', out, join(repoRoot, 'test', 'security', 'probe.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

export interface Sandbox {
  root: string;
  /** The probe image's name, the same in kiln's store and in docker. */
  image: string;
  probe: string;
  docker: boolean;
  kiln(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<Result>;
  dockerCli(args: string[], opts?: { input?: string }): Promise<Result>;
  /** `kiln run --rm FLAGS IMAGE ARGV` / the same with docker. */
  kilnRun(flags: string[], argv: string[]): Promise<Result>;
  dockerRun(flags: string[], argv: string[]): Promise<Result>;
  /** Runs `script` (sh) as a RUN step and returns what it printed (both streams). */
  kilnStep(script: string, buildFlags?: string[], runFlags?: string): Promise<string>;
  dockerStep(script: string): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * The Dockerfile of a probe step: the script comes from the context, its output is kept in
 * /result and exported from a scratch stage. The redirection is a subshell's: a shell applies
 * a simple command's redirections in itself before it forks, which would leave PID 1 (the RUN
 * step's shell) showing /result rather than the descriptors the step was given.
 */
function stepDockerfile(image: string, runFlags = ''): string {
  return [
    `FROM ${image} AS probe`,
    'COPY step.sh /step.sh',
    `RUN ${runFlags} (sh /step.sh) > /result 2>&1; true`,
    'FROM scratch',
    'COPY --from=probe /result /result',
    '',
  ].join('\n');
}

export async function openSandbox(name: string, opts: { docker?: boolean } = {}): Promise<Sandbox> {
  const root = mkdtempSync(join(tmpdir(), `kiln-sec-${name}-`));
  const probe = buildProbe(root);
  const image = `kiln-sec-${name}-${process.pid}/probe:latest`;
  const store = join(root, 'store');
  await commitBusyboxImage(await Store.open({ root: store }), image, 0, { probe });
  const docker = (opts.docker ?? true) && dockerAvailable();
  if (docker) {
    const rootfs = await makeBusyboxRootfs({ probe });
    try {
      const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const imp = spawn(DOCKER, ['import', '-', image], { stdio: ['pipe', 'ignore', 'inherit'] });
      tar.stdout.pipe(imp.stdin);
      const code = await new Promise((res) => imp.on('close', res));
      if (code !== 0) throw new Error('docker import of the probe image failed');
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  }
  let steps = 0;
  const stepDir = (script: string, runFlags?: string): { ctx: string; out: string } => {
    const ctx = join(root, `step-${steps++}`);
    execFileSync('mkdir', ['-p', ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), stepDockerfile(image, runFlags));
    writeFileSync(join(ctx, 'step.sh'), script);
    return { ctx, out: join(ctx, 'out') };
  };
  const box: Sandbox = {
    root, image, probe, docker,
    kiln: (args, o = {}) => runKiln(store, args, o),
    dockerCli: (args, o = {}) => runCommand(DOCKER, args, { ...o, env: { ...process.env, DOCKER_BUILDKIT: '1' } }),
    kilnRun: (flags, argv) => box.kiln(['run', '--rm', ...flags, image, ...argv]),
    dockerRun: (flags, argv) => box.dockerCli(['run', '--rm', ...flags, image, ...argv]),
    async kilnStep(script, buildFlags = [], runFlags) {
      const { ctx, out } = stepDir(script, runFlags);
      const r = await box.kiln(['build', '--no-cache', ...buildFlags, '--output', `type=local,dest=${out}`, ctx]);
      if (r.code !== 0) throw new Error(`kiln build failed (${r.code}): ${r.stderr}`);
      return readFileSync(join(out, 'result'), 'utf8');
    },
    async dockerStep(script) {
      const { ctx, out } = stepDir(script);
      const r = await box.dockerCli(['build', '-q', '--no-cache', '--output', `type=local,dest=${out}`, ctx]);
      if (r.code !== 0) throw new Error(`docker build failed (${r.code}): ${r.stderr}`);
      return readFileSync(join(out, 'result'), 'utf8');
    },
    async dispose() {
      rmSync(root, { recursive: true, force: true });
      if (docker) await runCommand(DOCKER, ['rmi', image]);
    },
  };
  return box;
}
