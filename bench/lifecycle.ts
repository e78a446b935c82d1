/**
 * The container lifecycle against docker's, on the same busybox image, taking turns (medians):
 *  1. one detached container's whole life: `run -d` + `stop` + `rm` (its PID 1 ends on SIGTERM,
 *     so the stop deadline is not what is timed); goal kiln ≤ 0.3× docker;
 *  2. `exec CONTAINER true` in a running container; goal kiln ≤ 0.3× docker.
 *
 *   node dist/bench/lifecycle.js [--reps N]
 *
 * Prints the load average too: on a shared machine every figure scales with it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../harness/busyboxImage.js';
import { DOCKER, importBusyboxIntoDocker } from '../harness/dockerImage.js';
import { formatMs, median, timeCommand } from './measure.js';
import { works } from './builders.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kilnBin = join(repoRoot, 'bin', 'kiln');
const IMAGE = 'kiln-bench-life/busybox:latest';
const SERVER = ['sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'];

type Cli = (args: string[]) => Promise<number>;

/** run -d + stop + rm of one container, in ms. */
async function cycle(cli: Cli, name: string): Promise<number> {
  return (await cli(['run', '-d', '--name', name, IMAGE, ...SERVER])) + (await cli(['stop', name])) + (await cli(['rm', name]));
}

async function main(): Promise<void> {
  const repsArg = process.argv.indexOf('--reps');
  const reps = repsArg > 0 ? Math.max(1, Number(process.argv[repsArg + 1])) : 5;
  if (process.getuid?.() !== 0 || !haveBusybox) {
    process.stderr.write('lifecycle: needs root and /bin/busybox\n');
    process.exitCode = 2;
    return;
  }
  const storeRoot = mkdtempSync(join(tmpdir(), 'kiln-bench-life-'));
  const docker = works([DOCKER, 'info']);
  const tag = `bench-life-${process.pid}`;
  const timed = (argv: string[], env: NodeJS.ProcessEnv): Cli => async (args) => {
    const r = await timeCommand([...argv, ...args], env);
    if (!r.ok) throw new Error(r.error);
    return r.ms;
  };
  const kiln = timed([kilnBin], { ...process.env, KILN_ROOT: storeRoot });
  const dockerCli = timed([DOCKER], process.env);
  try {
    await commitBusyboxImage(await Store.open({ root: storeRoot }), IMAGE);
    if (docker) await importBusyboxIntoDocker(IMAGE, ['CMD ["sh"]']);
    await cycle(kiln, `${tag}-warm`); // extracts the snapshot once
    const kilnCycles: number[] = [];
    const dockerCycles: number[] = [];
    for (let i = 0; i < reps; i++) {
      kilnCycles.push(await cycle(kiln, `${tag}-${i}`));
      if (docker) dockerCycles.push(await cycle(dockerCli, `${tag}-${i}`));
    }
    await kiln(['run', '-d', '--name', tag, IMAGE, ...SERVER]);
    if (docker) await dockerCli(['run', '-d', '--name', tag, IMAGE, ...SERVER]);
    const kilnExec: number[] = [];
    const dockerExec: number[] = [];
    for (let i = 0; i < reps; i++) {
      kilnExec.push(await kiln(['exec', tag, 'true']));
      if (docker) dockerExec.push(await dockerCli(['exec', tag, 'true']));
    }
    const ratio = (k: number[], d: number[]): string => (d.length > 0 ? `${((median(k) as number) / (median(d) as number)).toFixed(2)}×` : 'docker not measured');
    process.stdout.write([
      `reps: ${reps} (medians; kiln and docker take turns); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      `kiln run -d + stop + rm      ${formatMs(median(kilnCycles))}`,
      `docker run -d + stop + rm    ${formatMs(median(dockerCycles))}`,
      `ratio kiln/docker            ${ratio(kilnCycles, dockerCycles)}  (goal ≤ 0.30×)`,
      `kiln exec C true             ${formatMs(median(kilnExec))}`,
      `docker exec C true           ${formatMs(median(dockerExec))}`,
      `ratio kiln/docker            ${ratio(kilnExec, dockerExec)}  (goal ≤ 0.30×)`,
    ].join('\n') + '\n');
  } finally {
    spawnSync(kilnBin, ['rm', '-f', tag], { env: { ...process.env, KILN_ROOT: storeRoot }, stdio: 'ignore' });
    rmSync(storeRoot, { recursive: true, force: true });
    if (docker) {
      spawnSync(DOCKER, ['rm', '-f', tag], { stdio: 'ignore' });
      spawnSync(DOCKER, ['rmi', IMAGE], { stdio: 'ignore' });
    }
  }
}

await main();
