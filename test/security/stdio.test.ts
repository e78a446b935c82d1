/**
 * Standard streams: without -t a container's descriptors 1 and 2 are pipes that kiln reads and
 * relays, and 0 is /dev/null (a pipe kiln feeds with -i) — never kiln's own descriptors. So a
 * container that reopens /proc/1/fd/1 gets its own pipe, not the file kiln writes to with what
 * was written there before; as docker's attach gives it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnBin, prerequisite } from '../support/env.js';
import { runCommand } from '../support/kilnProcess.js';
import { openSandbox, ready, why, withDocker, whyDocker, type Sandbox, DOCKER } from './fixture.js';

const EARLIER = `earlier output of kiln's caller ${process.pid}`;

describe('security: standard streams', () => {
  let box: Sandbox;
  before(async () => {
    if (ready) box = await openSandbox('stdio');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  /** Runs `cli ARGS >> FILE` where FILE already holds EARLIER; returns the file and stderr. */
  async function intoFile(cli: string[], name: string): Promise<{ file: string; stderr: string }> {
    const file = join(box.root, name);
    writeFileSync(file, `${EARLIER}\n`);
    const quoted = cli.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = await runCommand('sh', ['-c', `${quoted} >> ${file}`], { env: { ...process.env, KILN_ROOT: join(box.root, 'store') } });
    return { file: readFileSync(file, 'utf8'), stderr: r.stderr };
  }

  test('without -t: reopening /proc/1/fd/1 gives the container\'s pipe, not kiln\'s stdout file (as docker)', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const k = await intoFile([process.execPath, kilnBin, 'run', '--rm', box.image, '/probe', 'stdout'], 'kiln.out');
    assert.match(k.stderr, /^fd1 pipe:\[\d+\] reopen-read (EAGAIN|empty)$/m);
    assert.doesNotMatch(k.stderr, new RegExp(EARLIER), 'what kiln\'s stdout held before is out of reach');
    assert.equal(k.file, `${EARLIER}\n`);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await intoFile([DOCKER, 'run', '--rm', box.image, '/probe', 'stdout'], 'docker.out');
    assert.equal(d.stderr.replace(/\d+/g, 'N'), k.stderr.replace(/\d+/g, 'N'));
  });

  test('descriptors 0-2: /dev/null and two pipes; -i relays input to a pipe, and its end to EOF', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const script = 'for f in 0 1 2; do readlink /proc/self/fd/$f; done; ls /proc/self/fd | wc -l';
    const plain = await box.kilnRun([], ['sh', '-c', script]);
    assert.match(plain.stdout, /^\/dev\/null\npipe:\[\d+\]\npipe:\[\d+\]\n/);
    const interactive = await box.kiln(['run', '--rm', '-i', box.image, 'sh', '-c', 'readlink /proc/self/fd/0; cat; echo end'], { input: 'hello\nworld\n' });
    assert.match(interactive.stdout, /^pipe:\[\d+\]\nhello\nworld\nend\n$/);
    const early = await box.kiln(['run', '--rm', '-i', box.image, 'true'], { input: 'x'.repeat(1 << 20) });
    assert.equal(early.code, 0, 'a container that does not read its input ends all the same');
    if (!prerequisite(t, withDocker, whyDocker)) return;
    const d = await box.dockerRun([], ['sh', '-c', script]);
    assert.equal(plain.stdout.replace(/\d+/g, 'N'), d.stdout.replace(/\d+/g, 'N'));
  });

  test('a RUN step\'s descriptors are /dev/null and pipes too', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const script = 'for f in 0 1 2; do readlink /proc/1/fd/$f; done';
    const out = await box.kilnStep(script);
    assert.match(out, /^\/dev\/null\npipe:\[\d+\]\npipe:\[\d+\]\n$/);
    if (!prerequisite(t, withDocker, whyDocker)) return;
    // BuildKit's descriptor 0 is an empty pipe, kiln's /dev/null: both read as an immediate end.
    const docker = (await box.dockerStep(script)).split('\n');
    assert.deepEqual(out.split('\n').slice(1).map((l) => l.replace(/\d+/g, 'N')), docker.slice(1).map((l) => l.replace(/\d+/g, 'N')));
    assert.match(docker[0] as string, /^(\/dev\/null|pipe:\[\d+\])$/);
  });
});
