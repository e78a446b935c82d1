/**
 * RUN as a step: refused where it cannot run here (no runtime, another architecture, an
 * insecure step not granted, `--network=none` without a network namespace), its mounts made
 * ready (runMounts.ts), its command run in a build container on the stage's files
 * (runProcess.ts), and what it changed committed as the new layer with BuildKit's history line
 * (`|N ARG=… ` first when the stage declared ARGs).
 */
import { rm } from 'node:fs/promises';
import type { RunInstruction } from '../../grammar/recipe.js';
import { KilnError } from '../errors/kilnError.js';
import { samePlatform } from '../image/platform.js';
import type { Isolation } from '../runtime/isolation.js';
import { prepareMounts, type ReadyMounts } from './runMounts.js';
import { RunFailedError, runCommand, runHistoryText, type ContainerRunner, type PreparedMount } from './runProcess.js';
import { runStubs } from './runStubs.js';
import type { RunRoot } from './snapshotter.js';
import type { StageState } from './state.js';
import { commitDiff } from './stepCommit.js';
import { located, stepWords, type StepEnvironment } from './stepEnvironment.js';

export async function runStep(state: StageState, env: StepEnvironment, instr: RunInstruction): Promise<StageState> {
  const { word } = stepWords(state, env, instr);
  refuseHere(state, env, instr);
  const ready: ReadyMounts = { mounts: [], extraEnv: [], closers: [] };
  // Most steps need no script dir: made on first use, removed only if made.
  const made: string[] = [];
  let scriptDirMade: Promise<string> | undefined;
  const scriptDir = (): Promise<string> => (scriptDirMade ??= env.storage.scratchDir().then((d) => { made.push(d); return d; }));
  const isolation = await env.isolation();
  try {
    await prepareMounts(state, env, instr, word, isolation, ready);
    // BuildKit's default for RUN is a network namespace of its own with outbound access.
    const network = instr.network === 'none' || instr.network === 'host' ? instr.network : 'bridge';
    if (network === 'none' && isolation === 'chroot') {
      throw located(env, instr, 'RUN_NETWORK', 'RUN --network=none needs a network namespace, which chroot isolation does not have (the kernel refused namespaces here)');
    }
    const { argv, root } = await runInContainer(state, env, instr, { scriptDir, ready, network, isolation });
    try {
      const createdBy = `RUN ${state.args.historyPrefix(state.config.config?.Env ?? undefined)}${runHistoryText(argv)} # buildkit`;
      await commitDiff(state, env, await root.capture(), createdBy, 'generated');
    } finally {
      await root.discard();
    }
    return state;
  } finally {
    for (const c of ready.closers) await c();
    for (const d of made) await rm(d, { recursive: true, force: true });
  }
}

/** What stops a RUN before anything is prepared for it. */
function refuseHere(state: StageState, env: StepEnvironment, instr: RunInstruction): void {
  if (instr.security === 'insecure' && !env.entitlements.has('security.insecure')) {
    throw located(env, instr, 'RUN_INSECURE', 'RUN --security=insecure needs the security.insecure entitlement: build with --allow security.insecure');
  }
  if (!env.runner) throw located(env, instr, 'NO_RUNTIME', 'RUN needs the container runtime, which is not available in this build of kiln');
  if (!samePlatform(state.platform, env.buildPlatform) && state.platform.architecture !== env.buildPlatform.architecture) {
    throw located(env, instr, 'PLATFORM', `cannot RUN for ${state.platform.os}/${state.platform.architecture} on a ${env.buildPlatform.architecture} machine (no emulation)`);
  }
}

/** Runs the command on a root the snapshotter prepares; a failure becomes a located error with the output's last lines. */
async function runInContainer(
  state: StageState, env: StepEnvironment, instr: RunInstruction,
  how: { scriptDir: () => Promise<string>; ready: ReadyMounts; network: 'none' | 'host' | 'bridge'; isolation: Isolation },
): Promise<{ argv: string[]; root: RunRoot }> {
  try {
    return await runCommand({
      instr, state, scriptDir: how.scriptDir, mounts: how.ready.mounts, network: how.network,
      prepareRoot: async (wanted: PreparedMount[]) => {
        const snapshotter = await env.snapshotter();
        const { stubs, mounts: remaining } = runStubs(how.isolation, snapshotter.kind, wanted);
        return { root: await snapshotter.prepareRun(state.layers, stubs), mounts: remaining };
      },
      runner: env.runner as ContainerRunner, extraEnv: how.ready.extraEnv, onOutput: env.output, signal: env.signal, insecure: instr.security === 'insecure',
    });
  } catch (e) {
    if (e instanceof RunFailedError) {
      const tail = e.tail.length ? `\n${e.tail.map((l) => `  > ${l}`).join('\n')}` : '';
      throw located(env, instr, 'RUN_FAILED', `${e.message}${tail}`, e.exitCode);
    }
    if (e instanceof KilnError && e.location === undefined) throw located(env, instr, e.code, e.message, e.exitCode);
    throw e;
  }
}
