/**
 * The build cache, scheduler and progress through the CLI, with real build containers:
 * a cache hit across two kiln processes, exactly the right steps invalidated by one changed
 * byte, touched files staying cached, --explain naming the changed file and ARG, four
 * `sleep 1` stages running side by side (asserted on the order of json progress events), and a
 * failing stage cancelling its siblings without leaving a mount behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { makeContext } from '../support/kilnProcess.js';
import { outsideRacyWindow } from '../support/racyWindow.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-cache-it-'));
const storeRoot = join(base, 'store');
const buildAvailable = spawnSync(process.execPath, [kilnBin, 'build', '--help'], { encoding: 'utf8' }).status === 0;
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') &&
  prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)') &&
  prerequisite(t, buildAvailable, 'kiln build is not available in this checkout');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

interface JsonEvent {
  event: string;
  id: number;
  name: string;
  stage: string;
  note?: string;
  error?: string;
}

/** Runs kiln to its end; `status` is null only when it had to be killed (a hang, not an answer). */
function kiln(args: string[]): { status: number | null; stdout: string; stderr: string; events: JsonEvent[] } {
  const r = spawnSync(process.execPath, [kilnBin, ...args], { encoding: 'utf8', env: { ...process.env, KILN_ROOT: storeRoot }, timeout: 300_000 });
  const events = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JsonEvent);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

/** "INSTRUCTION: HIT|MISS: reason" per step, from --explain notes. */
function verdicts(events: JsonEvent[]): string[] {
  return events.filter((e) => e.event === 'note' && /^(HIT|MISS)/.test(e.note ?? '')).map((e) => `${e.name.replace(/^\[[^\]]*\] /, '')}: ${e.note}`);
}

function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  return makeContext(base, name, dockerfile, files, Date.now() / 1000 - 60);
}

const COPY_RECIPE = `FROM kiln-test/busybox
ARG V=1
RUN echo "$V" > /v
COPY src /src
RUN cat /src/a.txt /src/b.txt > /both
`;

/** Pids of the processes whose command line holds `marker`. */
function processesRunning(marker: string): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false; // gone meanwhile
    }
  });
}

test('the cache is shared by two kiln processes; one changed byte misses exactly the COPY and after; touched files stay cached', async (t) => {
  if (!ready(t)) return;
  const ctx = context('copy', COPY_RECIPE, { 'src/a.txt': 'a\n', 'src/b.txt': 'b\n' });
  await outsideRacyWindow(ctx);
  const first = kiln(['build', '--progress=json', '--explain', '-t', 'cache-it:copy', ctx]);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(verdicts(first.events).every((v) => /MISS/.test(v)));

  const second = kiln(['build', '--progress=json', '--explain', '-t', 'cache-it:copy', ctx]);
  assert.equal(second.status, 0, second.stderr);
  // ARG is no step of its own (BuildKit lists none); a RUN's name shows the ARG's value, as BuildKit's does.
  assert.deepEqual(verdicts(second.events), ['RUN echo "1" > /v: HIT', 'COPY src /src: HIT', 'RUN cat /src/a.txt /src/b.txt > /both: HIT']);
  assert.equal(second.events.filter((e) => e.event === 'cached').length, 3);

  const now = Date.now() / 1000;
  utimesSync(join(ctx, 'src', 'a.txt'), now, now);
  const touched = kiln(['build', '--progress=json', '--explain', ctx]);
  assert.ok(verdicts(touched.events).every((v) => v.endsWith(': HIT')), verdicts(touched.events).join('\n'));

  writeFileSync(join(ctx, 'src', 'b.txt'), 'c\n');
  const changed = kiln(['build', '--progress=json', '--explain', ctx]);
  assert.equal(changed.status, 0, changed.stderr);
  assert.deepEqual(verdicts(changed.events), [
    'RUN echo "1" > /v: HIT',
    'COPY src /src: MISS: file changed: src/b.txt',
    'RUN cat /src/a.txt /src/b.txt > /both: MISS: parent step missed',
  ]);
});

test('--explain names the changed ARG', async (t) => {
  if (!ready(t)) return;
  const ctx = context('arg', COPY_RECIPE, { 'src/a.txt': 'a\n', 'src/b.txt': 'b\n' });
  assert.equal(kiln(['build', '--progress=json', ctx]).status, 0);
  const r = kiln(['build', '--progress=json', '--explain', '--build-arg', 'V=2', ctx]);
  assert.equal(r.status, 0, r.stderr);
  const v = verdicts(r.events);
  assert.match(v[0] as string, /^RUN echo "2" > \/v: MISS: parent step missed; ARG V changed: "1" → "2"$/);
});

test('four stages of sleep 1 run side by side (json event order)', async (t) => {
  if (!ready(t)) return;
  const stages = [1, 2, 3, 4].map((i) => `FROM kiln-test/busybox AS s${i}\nRUN sleep 1 && echo ${i} > /out${i}-${Date.now()}\n`).join('');
  const ctx = context('four', `${stages}FROM kiln-test/busybox\n${[1, 2, 3, 4].map((i) => `COPY --from=s${i} / /s${i}/\n`).join('')}`);
  const r = kiln(['build', '--progress=json', '--jobs', '4', ctx]);
  assert.equal(r.status, 0, r.stderr);
  const runs = r.events.filter((e) => (e.event === 'started' || e.event === 'done') && / RUN sleep 1/.test(e.name)).map((e) => e.event);
  assert.deepEqual(runs, ['started', 'started', 'started', 'started', 'done', 'done', 'done', 'done']);
});

test('a failing stage cancels its siblings, is the error reported, and leaves no mount or process behind', async (t) => {
  if (!ready(t)) return;
  // The siblings sleep far longer than the build may take: a build that ends by itself cancelled them.
  const marker = `900.${Date.now() % 1000}`;
  const ctx = context(
    'fail',
    `FROM kiln-test/busybox AS slow1\nRUN sleep ${marker}\nFROM kiln-test/busybox AS bad\nRUN sleep 0.5 && exit 3\nFROM kiln-test/busybox AS slow2\nRUN sleep ${marker}\n` +
      'FROM kiln-test/busybox\nCOPY --from=slow1 / /a/\nCOPY --from=bad / /b/\nCOPY --from=slow2 / /c/\n',
  );
  const r = kiln(['build', '--progress=json', ctx]);
  assert.notEqual(r.status, null, 'kiln ended by itself: the siblings were cancelled, not waited for');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /exit 3|exit code: 3/);
  const errors = r.events.filter((e) => e.event === 'error');
  assert.ok(errors.some((e) => /exit 3/.test(e.name)), JSON.stringify(errors));
  assert.equal(r.events.filter((e) => e.event === 'done' && e.name.includes(marker)).length, 0);
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(storeRoot), 'no mount left under the store');
  assert.deepEqual(processesRunning(marker), [], 'no build container left running');
});

test('Ctrl-C cancels the build like a failure: exit 130, no container or mount left', async (t) => {
  if (!ready(t)) return;
  const marker = `901.${Date.now() % 1000}`;
  // Two independent stages, both running when the signal comes (their sleeps differ, or the
  // two identical steps would run once; `${marker}0` still holds the marker).
  const ctx = context('interrupt', `FROM kiln-test/busybox AS a\nRUN sleep ${marker}\nFROM kiln-test/busybox AS b\nRUN sleep ${marker}0\nFROM kiln-test/busybox\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /etc/passwd /b\n`);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [kilnBin, 'build', '--progress=json', ctx], { env: { ...process.env, KILN_ROOT: storeRoot }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // Interrupt once (a second Ctrl-C exits at once) after both containers started.
    if (!sent && (stderr.match(/"event":"started"[^\n]*RUN sleep/g) ?? []).length === 2) {
      sent = true;
      void untilBothContainersRun().then(() => child.kill('SIGINT'));
    }
  });
  const untilBothContainersRun = async (): Promise<void> => {
    while (processesRunning(marker).length < 2 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  };
  // The containers sleep for 901 s: exit 130 before that is the interrupt's doing.
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, stderr.slice(-2000));
  assert.match(stderr, /canceled/);
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(storeRoot), 'no mount left under the store');
  assert.deepEqual(processesRunning(marker), [], 'no build container left running');
});
