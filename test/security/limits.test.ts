/**
 * Resource limits and the OOM score: a container (kiln run and RUN) starts with docker's limits
 * and oom_score_adj 0 whatever kiln's own process had — here kiln is started with its limits
 * lowered and its OOM score raised to 300 — compared with docker run and docker build;
 * `--ulimit` and `--oom-score-adj` as docker takes them, and their errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { kilnBin, prerequisite } from '../support/env.js';
import { runCommand } from '../support/kilnProcess.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox } from './fixture.js';

const SHOW = 'ulimit -a; cat /proc/self/limits; cat /proc/self/oom_score_adj';

describe('security: resource limits and OOM score', () => {
  let box: Sandbox;
  /** kiln started by a shell that lowered its soft limits and raised its OOM score first. */
  const skewedKiln = (args: string[]): ReturnType<typeof runCommand> => runCommand('sh', ['-c',
    `ulimit -S -n 512; ulimit -S -s 4096; ulimit -S -c 0; echo 300 > /proc/self/oom_score_adj; exec "$@"`, 'sh', process.execPath, kilnBin, ...args],
  { env: { ...process.env, KILN_ROOT: join(box.root, 'store') } });
  before(async () => {
    if (ready) box = await openSandbox('lim');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('kiln run: docker\'s limits and OOM score 0, not those of the process that started kiln', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await skewedKiln(['run', '--rm', box.image, 'sh', '-c', SHOW]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /^open files\s+\(-n\) 20000$/m);
    assert.match(k.stdout, /^0\n$/m, 'oom_score_adj reset to 0');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun([], ['sh', '-c', SHOW]);
    assert.equal(k.stdout, d.stdout);
  });

  test('RUN step: the same limits as docker build', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await box.kilnStep(SHOW);
    assert.match(k, /^open files\s+\(-n\) 20000$/m);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assert.equal(k, await box.dockerStep(SHOW));
  });

  test('--ulimit and --oom-score-adj as docker run takes them', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const flags = ['--ulimit', 'nofile=1024:2048', '--ulimit', 'core=-1', '--ulimit', 'nproc=300', '--oom-score-adj', '500'];
    const argv = ['sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -c; ulimit -u; cat /proc/self/oom_score_adj'];
    const k = await box.kilnRun(flags, argv);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(k.stdout, '1024\n2048\nunlimited\n300\n500\n');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    assert.equal(k.stdout, (await box.dockerRun(flags, argv)).stdout);
  });

  test('an unknown --ulimit name, a soft limit over the hard one, an OOM score out of range: docker\'s messages, exit 125, nothing created', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const records = (await box.kiln(['ps', '-a', '-q'])).stdout;
    const cases: [string[], RegExp][] = [
      [['--ulimit', 'nofiles=10'], /invalid ulimit type: nofiles/],
      [['--ulimit', 'nofile=10:5'], /ulimit soft limit must be less than or equal to hard limit: 10 > 5/],
      [['--ulimit', 'nofile'], /invalid ulimit argument: nofile/],
      [['--oom-score-adj', '2000'], /Invalid value 2000, range for oom score adj is \[-1000, 1000\]/],
    ];
    for (const [flags, message] of cases) {
      const r = await box.kilnRun(flags, ['true']);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal((await box.kiln(['ps', '-a', '-q'])).stdout, records, 'no container record');
  });
});
