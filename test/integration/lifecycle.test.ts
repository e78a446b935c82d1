/**
 * A detached container's whole life, in order, as a user drives it — run -d → logs -f → exec →
 * pause → unpause → stop -t 2 → ps -a → rm — then restart policies, start, wait, kill and
 * attach; and beside docker, the same things compared: log bytes, inspect State, exit codes,
 * stop's deadline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRoot, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { leftoverCgroups, leftoverMounts } from '../support/containers.js';
import { alive, openLifecycleBox, outputOf, until, type LifecycleBox } from '../support/lifecycle.js';

const ready = isRoot && haveBusybox;
const why = 'needs root (namespaces, overlayfs, cgroups) and /bin/busybox (busybox-static)';

/** Ticks every 0.1 s into its log and a counter file; on SIGTERM it says so and ignores it. */
const TICKER = 'trap "echo got TERM" TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; echo tick $i; sleep 0.1; done';

describe('container lifecycle', () => {
  let box: LifecycleBox;
  before(async () => {
    if (ready) box = await openLifecycleBox('cycle');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('run -d → logs -f → exec → pause → unpause → stop -t 2 → ps -a → rm', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    box.kilnNames.add('cycle');
    const run = await box.kiln(['run', '-d', '--name', 'cycle', box.image, 'sh', '-c', TICKER]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/, 'run -d prints the full container ID');
    const rec = box.record('cycle');
    assert.ok(rec?.pid && alive(rec.pid), 'the container runs after the command returned');
    assert.ok(rec.ownerPid && alive(rec.ownerPid), 'held by its supervisor');

    const follow = outputOf(box.kilnProcess(['logs', '-f', 'cycle']));
    await follow.seen('tick 3');

    const exec = await box.kiln(['exec', 'cycle', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; exit 3']);
    assert.equal(exec.code, 3, 'exec passes its exit code through');
    assert.match(exec.stdout, /^sh -c trap/, 'exec sees the container\'s PID 1');

    assert.equal((await box.kiln(['pause', 'cycle'])).code, 0);
    assert.match((await box.kiln(['ps'])).stdout, /Up .* \(Paused\)\s+cycle/);
    const counter = join(box.store, 'containers', id, 'upper', 'tmp', 'count');
    const frozenAt = readFileSync(counter, 'utf8');
    await sleep(1000); // ten ticks, had it not been frozen
    assert.equal(readFileSync(counter, 'utf8'), frozenAt, 'a frozen process makes no progress');
    const refused = await box.kiln(['exec', 'cycle', 'true']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is paused, unpause the container before exec/);
    assert.equal((await box.kiln(['unpause', 'cycle'])).code, 0);
    await until(() => readFileSync(counter, 'utf8') !== frozenAt);

    const started = Date.now();
    const stop = await box.kiln(['stop', '-t', '2', 'cycle']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, 'cycle\n');
    assert.ok(Date.now() - started >= 1900, 'a container that ignores SIGTERM gets its two seconds before SIGKILL');
    assert.equal(await follow.exit, 0, 'logs -f ends when the container stops');
    assert.match(follow.text(), /got TERM/, 'the stop signal reached it');
    assert.match((await box.kiln(['ps', '-a'])).stdout, /Exited \(137\) .*cycle/);
    assert.doesNotMatch((await box.kiln(['ps'])).stdout, /cycle/);
    assert.equal(box.record('cycle')?.exitCode, 137);

    assert.equal((await box.kiln(['rm', 'cycle'])).code, 0);
    assert.equal(box.record('cycle'), undefined);
    assert.equal(existsSync(join(box.store, 'containers', id)), false);
    assert.deepEqual(leftoverMounts(), []);
    assert.deepEqual(leftoverCgroups(id), [], 'no cgroup left');
  });

  test('--restart on-failure:2 restarts twice and stops; always is stopped by stop, not by its exits', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    box.kilnNames.add('flaky').add('steady');
    assert.equal((await box.kiln(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', box.image, 'sh', '-c', 'echo run; exit 3'])).code, 0);
    assert.equal((await box.kiln(['wait', 'flaky'])).stdout, '3\n');
    const flaky = box.record('flaky');
    assert.equal(flaky?.restartCount, 2);
    assert.equal((await box.kiln(['logs', 'flaky'])).stdout, 'run\nrun\nrun\n', 'three runs, one log');
    assert.match((await box.kiln(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'flaky'])).stdout, /^2 exited$/m);

    assert.equal((await box.kiln(['run', '-d', '--name', 'steady', '--restart', 'always', box.image, 'sh', '-c', 'echo up; sleep 0.2'])).code, 0);
    await until(() => (box.record('steady')?.restartCount ?? 0) >= 2);
    assert.equal((await box.kiln(['stop', '-t', '1', 'steady'])).code, 0);
    const stopped = await until(() => { const r = box.record('steady'); return r && r.state === 'exited' && r; });
    const count = stopped.restartCount;
    await sleep(500);
    assert.equal(box.record('steady')?.state, 'exited', 'a stopped container is not restarted');
    assert.equal(box.record('steady')?.restartCount, count);
  });

  test('start, restart, kill, wait; attach shows output and returns the exit code', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    box.kilnNames.add('again');
    assert.equal((await box.kiln(['run', '-d', '--name', 'again', box.image, 'sh', '-c', 'echo started; read line; echo "read $line"; exit 4'])).code, 0);
    // No -i: stdin is /dev/null, the read fails at once.
    assert.equal((await box.kiln(['wait', 'again'])).stdout, '4\n');
    const first = box.record('again');
    assert.equal((await box.kiln(['start', 'again'])).stdout, 'again\n');
    assert.equal((await box.kiln(['wait', 'again'])).stdout, '4\n');
    assert.notEqual(box.record('again')?.started, first?.started, 'started again');
    assert.equal((await box.kiln(['logs', 'again'])).stdout, 'started\nread \nstarted\nread \n');

    box.kilnNames.add('sleeper');
    assert.equal((await box.kiln(['run', '-d', '-i', '--name', 'sleeper', box.image, 'sh', '-c', 'while read line; do echo "got $line"; [ "$line" = bye ] && exit 5; done'])).code, 0);
    const attach = box.kilnProcess(['attach', 'sleeper']);
    const seen = outputOf(attach);
    attach.stdin.write('hello\n');
    await seen.seen('got hello');
    attach.stdin.write('bye\n');
    assert.equal(await seen.exit, 5, 'attach exits with the container\'s code');

    box.kilnNames.add('victim');
    // PID 1 of a namespace gets only the signals it handles (sleep would ignore USR1): with --init it is the init's to pass on.
    assert.equal((await box.kiln(['run', '-d', '--init', '--name', 'victim', box.image, 'sleep', '1000'])).code, 0);
    const before = box.record('victim');
    // A signal that does not exist is refused before anything is asked of the container, as by stop.
    for (const verb of ['stop', 'restart']) {
      const bad = await box.kiln([verb, '-s', 'BOGUS', 'victim']);
      assert.equal(bad.code, 125, `${verb}: ${bad.stderr}`);
      assert.match(bad.stderr, /Invalid signal: BOGUS/, verb);
      assert.ok(box.record('victim')?.pid === before?.pid && alive(before?.pid as number), `${verb}: the container runs on, untouched`);
    }
    assert.equal((await box.kiln(['restart', '-t', '0', 'victim'])).stdout, 'victim\n');
    const restarted = box.record('victim');
    assert.ok(restarted?.pid && restarted.pid !== before?.pid && alive(restarted.pid), 'a new PID 1 runs');
    assert.equal((await box.kiln(['kill', '-s', 'USR1', 'victim'])).code, 0);
    assert.equal((await box.kiln(['wait', 'victim'])).stdout, '138\n', '128 + SIGUSR1');
    const again = await box.kiln(['kill', 'victim']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot kill container: victim: Container [0-9a-f]{64} is not running/);
  });

  test('clear errors: an unknown container, exec in a stopped one', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    for (const verb of ['stop', 'kill', 'start', 'restart', 'pause', 'wait', 'logs', 'rm']) {
      const r = await box.kiln([verb, 'no-such-container']);
      assert.equal(r.code, 1, `${verb}: ${r.stderr}`);
      assert.match(r.stderr, /No such container: no-such-container/, verb);
    }
    box.kilnNames.add('done');
    assert.equal((await box.kiln(['run', '-d', '--name', 'done', box.image, 'true'])).code, 0);
    await box.kiln(['wait', 'done']);
    const exec = await box.kiln(['exec', 'done', 'true']);
    assert.equal(exec.code, 1);
    assert.match(exec.stderr, /Container [0-9a-f]{64} is not running/);
  });
});

describe('container lifecycle beside docker', () => {
  let box: LifecycleBox;
  before(async () => {
    if (ready) box = await openLifecycleBox('parity');
  });
  after(async () => {
    if (ready) await box.dispose();
  });
  const withDocker = (t: import('node:test').TestContext): boolean => prerequisite(t, ready && box.docker, `${why}, and a running dockerd (.ci/setup starts one)`);
  const name = (base: string): string => `${base}-${process.pid}`;

  test('logs: the same bytes on stdout and stderr, the same json-file entries, --tail', async (t) => {
    if (!withDocker(t)) return;
    // stderr first, and well before stdout: the two pipes are read apart, so only their order within one stream is certain.
    const script = 'echo err >&2; sleep 0.5; echo hello; printf "tab\\t<&>\\\\n"; printf "\\351t\\303\\251\\n"; printf no-newline';
    const n = name('logs');
    box.kilnNames.add(n);
    box.dockerNames.add(n);
    assert.equal((await box.kiln(['run', '-d', '--name', n, box.image, 'sh', '-c', script])).code, 0);
    assert.equal((await box.dockerCli(['run', '-d', '--name', n, box.image, 'sh', '-c', script])).code, 0);
    assert.equal((await box.kiln(['wait', n])).stdout, (await box.dockerCli(['wait', n])).stdout);
    for (const flags of [[], ['--tail', '2'], ['--tail', '0']]) {
      const k = await box.kiln(['logs', ...flags, n]);
      const d = await box.dockerCli(['logs', ...flags, n]);
      assert.equal(k.stdout, d.stdout, `logs ${flags.join(' ')} stdout`);
      assert.equal(k.stderr, d.stderr, `logs ${flags.join(' ')} stderr`);
    }
    const stamped = (await box.kiln(['logs', '-t', n])).stdout.split('\n')[0];
    const dockerStamped = (await box.dockerCli(['logs', '-t', n])).stdout.split('\n')[0];
    const shape = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello$/;
    assert.match(stamped ?? '', shape);
    assert.match(dockerStamped ?? '', shape);
    const withoutTimes = (text: string): string => text.replace(/"time":"[^"]+"/g, '"time":T');
    const logPath = (await box.dockerCli(['inspect', '-f', '{{.LogPath}}', n])).stdout.trim();
    const kilnLog = box.record(n);
    assert.equal(withoutTimes(readFileSync(join(box.store, 'containers', kilnLog?.id ?? '', `${kilnLog?.id}-json.log`), 'utf8')),
      withoutTimes(readFileSync(logPath, 'utf8')), 'the json-file entries, escaping included');
  });

  test('inspect State while running and after exit; exit codes of exec, stop, kill', async (t) => {
    if (!withDocker(t)) return;
    const n = name('state');
    box.kilnNames.add(n);
    box.dockerNames.add(n);
    const script = 'trap "exit 3" TERM; sleep 1000 & wait';
    assert.equal((await box.kiln(['run', '-d', '--name', n, box.image, 'sh', '-c', script])).code, 0);
    assert.equal((await box.dockerCli(['run', '-d', '--name', n, box.image, 'sh', '-c', script])).code, 0);
    const state = async (tool: 'kiln' | 'docker'): Promise<Record<string, unknown>> => {
      const r = tool === 'kiln' ? await box.kiln(['inspect', n]) : await box.dockerCli(['inspect', n]);
      const s = (JSON.parse(r.stdout) as { State: Record<string, unknown> }[])[0]?.State ?? {};
      return { ...s, Pid: (s.Pid as number) > 0, StartedAt: String(s.StartedAt).replace(/\.\d+Z$/, '.NZ').replace(/\d/g, '9'), FinishedAt: String(s.FinishedAt).startsWith('0001-') ? 'never' : 'set' };
    };
    assert.deepEqual(await state('kiln'), await state('docker'), 'running');
    for (const args of [['nosuch'], ['sh', '-c', 'exit 7'], ['/etc/passwd']]) {
      const k = await box.kiln(['exec', n, ...args]);
      const d = await box.dockerCli(['exec', n, ...args]);
      assert.equal(k.code, d.code, `exec ${args.join(' ')}: kiln ${k.stderr} docker ${d.stderr}`);
    }
    assert.equal((await box.kiln(['stop', n])).code, 0);
    assert.equal((await box.dockerCli(['stop', n])).code, 0);
    const [k, d] = [await state('kiln'), await state('docker')];
    assert.deepEqual(k, d, 'after a stop that the container answered (exit 3)');
    assert.equal(k.ExitCode, 3);
    for (const args of [['kill', n], ['stop', 'no-such-container'], ['exec', n, 'true'], ['pause', n], ['unpause', n]]) {
      assert.equal((await box.kiln(args)).code, (await box.dockerCli(args)).code, args.join(' '));
    }
  });

  test('stop: SIGKILL at the deadline for a container that ignores its stop signal, in both', async (t) => {
    if (!withDocker(t)) return;
    const n = name('deaf');
    box.kilnNames.add(n);
    box.dockerNames.add(n);
    const script = 'trap "" TERM; sleep 1000 & wait';
    for (const tool of ['kiln', 'docker'] as const) {
      const cli = tool === 'kiln' ? box.kiln.bind(box) : box.dockerCli.bind(box);
      assert.equal((await cli(['run', '-d', '--name', n, box.image, 'sh', '-c', script])).code, 0);
      const started = Date.now();
      assert.equal((await cli(['stop', '-t', '1', n])).code, 0);
      assert.ok(Date.now() - started >= 900, `${tool} waited its second`);
      assert.equal((await cli(['inspect', '-f', '{{.State.ExitCode}}', n])).stdout.trim(), '137', tool);
    }
  });

  test('--restart on-failure:2: the same restart count and exit code', async (t) => {
    if (!withDocker(t)) return;
    const n = name('retry');
    box.kilnNames.add(n);
    box.dockerNames.add(n);
    const args = ['run', '-d', '--name', n, '--restart', 'on-failure:2', box.image, 'sh', '-c', 'exit 3'];
    assert.equal((await box.kiln(args)).code, 0);
    assert.equal((await box.dockerCli(args)).code, 0);
    const settled = async (cli: (a: string[]) => Promise<{ stdout: string }>): Promise<string> =>
      until(async () => { const s = (await cli(['inspect', '-f', '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}', n])).stdout.trim(); return s.startsWith('exited') && s; }, 100);
    assert.equal(await settled((a) => box.kiln(a)), await settled((a) => box.dockerCli(a)));
  });
});

describe('crash cases', () => {
  let box: LifecycleBox;
  before(async () => {
    if (ready) box = await openLifecycleBox('crash', { docker: false });
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('kill -9 of the command leaves a detached container running and in ps; of its attach, too', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    box.kilnNames.add('survivor');
    const cli = box.kilnProcess(['run', '-d', '--name', 'survivor', box.image, 'sleep', '1000']);
    const cliExit = new Promise((resolve) => cli.on('close', resolve));
    // Killed as soon as its container runs (before it printed the ID, or just after).
    const rec = await until(() => { const r = box.record('survivor'); return r?.state === 'running' && r.pid !== undefined && r; });
    cli.kill('SIGKILL');
    await cliExit;
    assert.ok(alive(rec.pid as number), 'the container runs on');
    assert.match((await box.kiln(['ps'])).stdout, /Up .*survivor/);

    const attach = box.kilnProcess(['attach', 'survivor']);
    const attached = new Promise((resolve) => attach.on('close', resolve));
    attach.kill('SIGKILL');
    await attached;
    assert.ok(alive(rec.pid as number));
    assert.equal((await box.kiln(['exec', 'survivor', 'true'])).code, 0, 'still running, still reachable');
  });

  test('kill -9 of a supervisor takes its container with it; ps -a shows it exited and the next command sweeps its cgroups', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    box.kilnNames.add('orphan');
    assert.equal((await box.kiln(['run', '-d', '--name', 'orphan', '--restart', 'always', box.image, 'sleep', '1000'])).code, 0);
    const rec = box.record('orphan');
    assert.ok(rec?.ownerPid && rec.pid && rec.cgroupDirs);
    process.kill(rec.ownerPid, 'SIGKILL');
    await until(() => !alive(rec.pid as number));
    const dirs = rec.cgroupDirs;
    const ps = await box.kiln(['ps', '-a']);
    assert.match(ps.stdout, /Exited \(137\) .*orphan/);
    assert.equal(box.record('orphan')?.state, 'exited', 'the sweep wrote the exit down');
    assert.deepEqual(dirs.filter((d) => existsSync(d)), [], 'its cgroups are gone');
    assert.deepEqual(leftoverMounts(), []);
    assert.equal((await box.kiln(['start', 'orphan'])).code, 0, 'and it can be started again');
    assert.ok(box.record('orphan')?.state === 'running');
  });
});
