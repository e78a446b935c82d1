/**
 * `kill -9` of a `kiln build --snapshotter copy` while a RUN step runs (its root a copy of the
 * stage's, a cache mount's entries in it): the next command leaves nothing of it — no temp dir
 * of the dead kiln (half-copied roots included), no mount, and under chroot isolation (no PID
 * namespace to end the step with kiln) no process the step left running in the background,
 * which would otherwise run on for ever; the store checks clean and the same recipe builds again,
 * the cache mount still usable.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { processesRootedUnder } from '../../engine/store/chrootedLeftovers.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-killed-copy-build-it-'));
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');
const stores: string[] = [];

before(async () => {
  if (!isRoot || !haveBusybox) return;
  for (const isolation of ['chroot', 'namespaces']) {
    const root = join(base, `store-${isolation}`);
    await commitBusyboxImage(await Store.open({ root }), 'kiln-test/busybox:latest');
    stores.push(root);
  }
});
after(() => rmSync(base, { recursive: true, force: true }));

/** The recipe: a step that fills its root, then one that hangs with a child in the background. */
function recipe(last: string): string {
  return `FROM kiln-test/busybox
RUN mkdir /many && i=0 && while [ $i -lt 300 ]; do echo $i > /many/f$i; i=$((i+1)); done
RUN --mount=type=cache,target=/cache ${last}
`;
}

/** Starts the build, waits for the hanging step's word, kills kiln with SIGKILL; its pid. */
async function killedBuild(store: string, isolation: string, ctx: string): Promise<number> {
  const child = spawn(process.execPath, [kilnBin, 'build', '--progress', 'plain', '--snapshotter', 'copy', '--isolation', isolation, ctx], {
    env: { ...process.env, KILN_ROOT: store }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const seen = (c: Buffer): void => {
      output += c.toString();
      if (/ hanging-now\n/.test(output)) resolve(); // the step's output line, not the instruction's echo
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => reject(new Error(`kiln build ended (${code}) before its step hung:\n${output}`)));
  });
  child.kill('SIGKILL');
  await closed;
  return child.pid as number;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
}

for (const [i, isolation] of ['chroot', 'namespaces'].entries()) {
  test(`a killed copy-snapshotter build (${isolation} isolation) leaves nothing the next build trips over`, async (t) => {
    if (!ready(t)) return;
    const store = stores[i] as string;
    const ctx = join(base, `ctx-${isolation}`);
    await writeFiles(ctx, { Dockerfile: recipe("echo kept > /cache/entry && (sleep 600 &) && echo hanging-now && sleep 600") });
    const pid = await killedBuild(store, isolation, ctx);
    const tmp = join(store, 'tmp');
    const deadOnes = (): string[] => readdirSync(tmp).filter((n) => n.includes(`-${pid}-`));
    assert.ok(deadOnes().length > 0, 'the killed build left its step\'s root in tmp/');
    // Without a PID namespace the step's background child outlives kiln, rooted in that copy.
    if (isolation === 'chroot') assert.ok(processesRootedUnder(tmp).length > 0, 'the step\'s background process outlived kiln');

    await succeeds(runKiln(store, ['images']));
    assert.deepEqual(deadOnes(), [], 'the next command swept the dead build\'s temp dirs');
    assert.deepEqual(processesRootedUnder(store), [], 'no process runs on in the store');
    assert.deepEqual(mountsUnder(store), [], 'nothing mounted under the store');
    await succeeds(runKiln(store, ['check']));

    // The same stages build again; the cache mount is there to use.
    await writeFiles(ctx, { Dockerfile: recipe('ls /cache > /dev/null && echo finished') });
    const built = await succeeds(runKiln(store, ['build', '-q', '--snapshotter', 'copy', '--isolation', isolation, ctx]));
    assert.match(built.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(readdirSync(tmp).filter((n) => !n.startsWith('.')), [], 'the finished build left no temp dir');
    await succeeds(runKiln(store, ['check']));
  });
}
