/**
 * What a detached container keeps of its settings, observed from inside: `kiln exec` gets the
 * container's --ulimit and --oom-score-adj (as docker exec does), limits beyond 2^53 survive the
 * stored record and a restart to the digit, `kiln stats` counts the bytes the container's bridge
 * interface counted, and a container whose supervisor was killed (its record still saying
 * running) holds its image no more than a stopped one and publishes no port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot, prerequisite } from '../support/env.js';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { alive, openLifecycleBox, until, type LifecycleBox } from '../support/lifecycle.js';
import { humanSize } from '../../engine/units/humanUnits.js';
import { networkBytes } from '../../engine/runtime/lifecycle/containerStats.js';

const ready = isRoot && haveBusybox;
const why = 'needs root (namespaces, overlayfs, cgroups) and /bin/busybox (busybox-static)';
/** 2^53 + 1: the first integer a double cannot hold. */
const HUGE = '9007199254740993';

/** The "Max file size" and "Max open files" lines of a limits file, spaces squeezed. */
function limitLines(text: string): string[] {
  return text.split('\n').filter((l) => /^Max (file size|open files)/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim());
}

describe('a detached container\'s settings, observed', () => {
  let box: LifecycleBox;
  before(async () => {
    if (ready) box = await openLifecycleBox('settings');
  });
  after(async () => {
    if (ready) await box.dispose();
  });

  test('exec gets the container\'s --ulimit and --oom-score-adj, as docker exec does', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `limits-${process.pid}`;
    const flags = ['--ulimit', 'nofile=1234:2345', '--ulimit', 'nproc=345:456', '--oom-score-adj', '321'];
    const probe = ['sh', '-c', 'grep -E "^Max (open files|processes)" /proc/self/limits; cat /proc/self/oom_score_adj'];
    const seen = (text: string): string[] => text.trim().split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
    box.kilnNames.add(name);
    assert.equal((await box.kiln(['run', '-d', '--name', name, ...flags, box.image, 'sleep', '1000'])).code, 0);
    const k = await box.kiln(['exec', name, ...probe]);
    assert.equal(k.code, 0, k.stderr);
    assert.deepEqual(seen(k.stdout), ['Max processes 345 456 processes', 'Max open files 1234 2345 files', '321']);
    if (box.docker) {
      box.dockerNames.add(name);
      assert.equal((await box.dockerCli(['run', '-d', '--name', name, ...flags, box.image, 'sleep', '1000'])).code, 0);
      const d = seen((await box.dockerCli(['exec', name, ...probe])).stdout);
      // The same, except nofile's soft limit: docker's exec'd process inherits it from runc, whose
      // Go runtime (1.19 on) raised it to the hard limit; kiln gives the one the container has.
      assert.deepEqual(d, ['Max processes 345 456 processes', 'Max open files 2345 2345 files', '321']);
    }
  });

  test('--ulimit beyond 2^53 is stored and restored to the digit, through exec and a restart', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `huge-${process.pid}`;
    box.kilnNames.add(name);
    const flags = ['--ulimit', `fsize=${HUGE}:${HUGE}`];
    assert.equal((await box.kiln(['run', '-d', '--name', name, ...flags, box.image, 'sleep', '1000'])).code, 0);
    const want = [`Max file size ${HUGE} ${HUGE} bytes`];
    const fromExec = async (): Promise<string[]> => {
      const r = await box.kiln(['exec', name, 'cat', '/proc/1/limits', '/proc/self/limits']);
      assert.equal(r.code, 0, r.stderr);
      return limitLines(r.stdout).filter((l) => l.startsWith('Max file size'));
    };
    assert.deepEqual(await fromExec(), [...want, ...want], 'PID 1 and an exec\'d process');
    const before = box.record(name)?.pid;
    assert.equal((await box.kiln(['restart', '-t', '0', name])).code, 0);
    await until(() => { const r = box.record(name); return r?.state === 'running' && r.pid !== before; });
    assert.deepEqual(await fromExec(), [...want, ...want], 'after a restart, from the stored settings');
    if (box.docker) {
      box.dockerNames.add(name);
      const d = await box.dockerCli(['run', '--rm', ...flags, box.image, 'cat', '/proc/self/limits']);
      assert.deepEqual(limitLines(d.stdout).filter((l) => l.startsWith('Max file size')), want, 'docker gives the same');
    }
  });

  test('stats: network bytes are what the container\'s eth0 on the bridge counted', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `netstats-${process.pid}`;
    box.kilnNames.add(name);
    assert.equal((await box.kiln(['run', '-d', '--name', name, box.image, 'sleep', '1000'])).code, 0);
    // Traffic both ways: pings to the bridge's address, its default gateway.
    const ping = await box.kiln(['exec', name, 'sh', '-c', 'ping -c 3 -i 0.2 $(ip route | awk \'/^default/ { print $3 }\')']);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const inside = async (): Promise<{ rx: number; tx: number }> => networkBytes((await box.kiln(['exec', name, 'cat', '/proc/net/dev'])).stdout);
    // The counters read inside before and after stats must agree (nothing sent meanwhile).
    const [shown, counted] = await until(async () => {
      const a = await inside();
      const s = (await box.kiln(['stats', '--no-stream', '--format', '{{.NetIO}}', name])).stdout.trim();
      const b = await inside();
      return a.rx === b.rx && a.tx === b.tx ? [s, b] as const : undefined;
    });
    assert.ok(counted.rx > 0 && counted.tx > 0, `eth0 counted traffic: ${JSON.stringify(counted)}`);
    assert.equal(shown, `${humanSize(counted.rx)} / ${humanSize(counted.tx)}`);
  });

  test('a killed supervisor\'s container holds its image like a stopped one, and publishes no port', async (t) => {
    if (!prerequisite(t, ready, why)) return;
    const name = `orphaned-${process.pid}`;
    const tag = `kiln-life-settings-${process.pid}/second:latest`;
    // An image of its own (only this tag), so removing the tag removes the image.
    const built = await box.kiln(['build', '-q', '-t', tag, '-'], { input: `FROM ${box.image}\nLABEL only=${process.pid}\n` });
    assert.equal(built.code, 0, built.stderr);
    box.kilnNames.add(name);
    assert.equal((await box.kiln(['run', '-d', '--name', name, '-p', '127.0.0.1::80', tag, 'sleep', '1000'])).code, 0);
    assert.match((await box.kiln(['port', name])).stdout, /^80\/tcp -> 127\.0\.0\.1:\d+\n$/);
    const running = await box.kiln(['rmi', tag]);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /\(cannot be forced\) - image is being used by running container/);
    const rec = box.record(name);
    assert.ok(rec?.ownerPid && rec.pid);
    process.kill(rec.ownerPid, 'SIGKILL');
    await until(() => !alive(rec.pid as number));
    // Nothing has swept it yet: the record still says running.
    assert.equal(box.record(name)?.state, 'running');
    assert.equal((await box.kiln(['port', name])).stdout, '', 'no port of a dead container');
    const stopped = await box.kiln(['rmi', tag]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /\(must force\) - container [0-9a-f]{12} is using its referenced image/);
    const forced = await box.kiln(['rmi', '-f', tag]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, `Untagged: ${tag}\n`);
  });
});
