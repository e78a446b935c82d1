/**
 * Container start-up:
 *  1. `kiln run --rm IMAGE true` against `docker run --rm IMAGE true` on the same busybox image,
 *     taking turns, medians (goal: kiln ≤ 0.25× docker).
 *  2. The overhead of one container start that writes a small diff (a RUN step's shape):
 *     runContainer in-process, minus the same command run directly on the host (goal ≤ 50 ms).
 *  3. The same seen from a build: `kiln build --no-cache` of FROM + six small RUN steps, minus
 *     FROM + one, divided by five, paired run by run (a RUN step's whole cost: container, layer
 *     tar, commit). Both builds run a first step, so what a build pays once when it meets its
 *     first RUN (the namespace probe, loading the code that runs steps) is not counted as a
 *     step's, nor is a build's own start and end.
 *
 *   node dist/bench/run-startup.js [--reps N]
 *
 * Prints the load average too: on a shared machine every figure scales with it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../engine/store/store.js';
import { extractTar } from '../engine/layer/extract.js';
import { runContainer } from '../engine/runtime/container.js';
import { commitBusyboxImage, haveBusybox } from '../harness/busyboxImage.js';
import { DOCKER, importBusyboxIntoDocker } from '../harness/dockerImage.js';
import { formatMs, median, timeCommand } from './measure.js';
import { works } from './builders.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kilnBin = join(repoRoot, 'bin', 'kiln');
const IMAGE = 'kiln-bench/busybox:latest';

async function main(): Promise<void> {
  const repsArg = process.argv.indexOf('--reps');
  const reps = repsArg > 0 ? Math.max(1, Number(process.argv[repsArg + 1])) : 10;
  if (process.getuid?.() !== 0 || !haveBusybox) {
    process.stderr.write('run-startup: needs root and /bin/busybox\n');
    process.exitCode = 2;
    return;
  }
  const storeRoot = mkdtempSync(join(tmpdir(), 'kiln-bench-run-'));
  try {
    const store = await Store.open({ root: storeRoot, unpackLayer: extractTar });
    const image = await commitBusyboxImage(store, IMAGE);
    const env = { ...process.env, KILN_ROOT: storeRoot };
    const docker = works([DOCKER, 'info']);
    if (docker) await importBusyboxIntoDocker(IMAGE, ['CMD ["sh"]']);

    // 1. CLI against CLI, taking turns.
    const kilnTimes: number[] = [];
    const dockerTimes: number[] = [];
    await timeCommand([kilnBin, 'run', '--rm', IMAGE, 'true'], env); // extracts the snapshot once
    for (let i = 0; i < reps; i++) {
      const k = await timeCommand([kilnBin, 'run', '--rm', IMAGE, 'true'], env);
      if (!k.ok) throw new Error(k.error);
      kilnTimes.push(k.ms);
      if (docker) {
        const d = await timeCommand([DOCKER, 'run', '--rm', IMAGE, 'true'], process.env);
        if (!d.ok) throw new Error(d.error);
        dockerTimes.push(d.ms);
      }
    }

    // 2. One container start with a small diff, in-process, against the bare command.
    const lower = await store.snapshotDir(image.config.rootfs.diff_ids[0] as string);
    const scratch = join(storeRoot, 'bench-containers');
    const startTimes: number[] = [];
    const bareTimes: number[] = [];
    for (let i = 0; i < reps; i++) {
      const dir = join(scratch, String(i));
      mkdirSync(join(dir, 'upper'), { recursive: true });
      mkdirSync(join(dir, 'work'));
      const t0 = performance.now();
      const r = await runContainer({
        rootfs: { lowerDirs: [lower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') },
        argv: ['/bin/sh', '-c', 'echo small > /diff.txt'],
        env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, hostname: 'bench',
        network: 'none', mounts: [], stdio: 'pipe',
      });
      startTimes.push(performance.now() - t0);
      if (r.exitCode !== 0) throw new Error(`container exited ${r.exitCode}`);
      const t1 = performance.now();
      spawnSync(join(lower, 'bin', 'busybox'), ['sh', '-c', `echo small > ${join(dir, 'bare.txt')}`]);
      bareTimes.push(performance.now() - t1);
    }

    // 3. One RUN step inside a build.
    const ctx = join(storeRoot, 'ctx');
    mkdirSync(ctx);
    const runs = (n: number): string => `FROM ${IMAGE}\n${Array.from({ length: n }, (_, i) => `RUN echo small > /diff${i}.txt\n`).join('')}`;
    writeFileSync(join(ctx, 'run.Dockerfile'), runs(6));
    writeFileSync(join(ctx, 'first.Dockerfile'), runs(1));
    const runBuild: number[] = [];
    const firstBuild: number[] = [];
    const perStep: number[] = [];
    for (let i = 0; i < reps; i++) {
      for (const [file, out] of [['run.Dockerfile', runBuild], ['first.Dockerfile', firstBuild]] as const) {
        const b = await timeCommand([kilnBin, 'build', '-q', '--no-cache', '-f', join(ctx, file), '-t', 'kiln-bench/out', ctx], env);
        if (!b.ok) throw new Error(b.error);
        out.push(b.ms);
      }
      perStep.push(((runBuild.at(-1) as number) - (firstBuild.at(-1) as number)) / 5);
    }

    const km = median(kilnTimes) as number;
    const dm = median(dockerTimes);
    const sm = median(startTimes) as number;
    const bm = median(bareTimes) as number;
    const lines = [
      `reps: ${reps} (medians; kiln and docker take turns); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      `kiln run --rm ${IMAGE} true     ${formatMs(km)}`,
      docker ? `docker run --rm ${IMAGE} true   ${formatMs(dm)}` : 'docker run: dockerd not reachable, not measured',
      ...(dm !== undefined ? [`ratio kiln/docker                ${(km / dm).toFixed(2)}×  (goal ≤ 0.25×)`] : []),
      `runContainer, small diff (in-process)   ${formatMs(sm)}`,
      `same command on the host, no container  ${formatMs(bm)}`,
      `container start overhead                ${formatMs(sm - bm)}  (goal ≤ 50 ms)`,
      `kiln build --no-cache FROM + 6× RUN small  ${formatMs(median(runBuild))}`,
      `kiln build --no-cache FROM + 1× RUN small  ${formatMs(median(firstBuild))}`,
      `one RUN step with a small diff             ${formatMs(median(perStep))}  (goal ≤ 15 ms; per step, paired)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rmSync(storeRoot, { recursive: true, force: true });
    if (works([DOCKER, 'info'])) spawnSync(DOCKER, ['rmi', IMAGE], { stdio: 'ignore' });
  }
}

await main();
