/**
 * `kiln build` with a real registry: --cache-to exports the build's cache, an EMPTY store's
 * build with --cache-from runs no step and gives the same image; --push sends every -t name,
 * and pulling it into another empty store gives the same image ID. Bad flag values are usage
 * errors (exit 2) before anything runs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { makeContext } from '../support/kilnProcess.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../../harness/registry.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-build-registry-'));
let registry: TestRegistry | undefined;

const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') &&
  prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)') &&
  prerequisite(t, registryAvailable(), 'needs docker-registry, htpasswd and openssl');

before(async () => {
  if (!isRoot || !haveBusybox || !registryAvailable()) return;
  registry = await startRegistry();
  // The base image lives only in the registry (and in the first store): the empty stores pull it.
  const seed = join(base, 'seed');
  await commitBusyboxImage(await Store.open({ root: seed }), `${registry.host}/kiln-test/busybox:latest`);
  const pushed = kiln(seed, ['push', `${registry.host}/kiln-test/busybox:latest`]);
  if (pushed.status !== 0) throw new Error(`pushing the base image failed: ${pushed.stderr}`);
});
after(async () => {
  await registry?.stop();
  rmSync(base, { recursive: true, force: true });
});

interface JsonEvent { event: string; id: number; name: string; note?: string }

function kiln(storeRoot: string, args: string[]): { status: number | null; stdout: string; stderr: string; events: JsonEvent[] } {
  const r = spawnSync(process.execPath, [kilnBin, ...args], {
    encoding: 'utf8', timeout: 180_000,
    // Same created times in both builds, so equal steps give an equal image ID.
    env: { ...process.env, KILN_ROOT: storeRoot, SOURCE_DATE_EPOCH: '1700000000' },
  });
  const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonEvent);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

function context(name: string, dockerfile: string, files: Record<string, string>): string {
  return makeContext(base, name, dockerfile, files, 1_600_000_000);
}

async function imageOf(storeRoot: string, ref: string): Promise<{ id: string; diffIds: string[] }> {
  const rec = await (await Store.open({ root: storeRoot })).requireImage(ref);
  return { id: rec.id, diffIds: rec.config.rootfs.diff_ids };
}

/** "INSTRUCTION: HIT|MISS: reason" per step, from --explain notes. */
function verdicts(events: JsonEvent[]): string[] {
  return events.filter((e) => e.event === 'note' && /^(HIT|MISS)/.test(e.note ?? '')).map((e) => `${e.name.replace(/^\[[^\]]*\] /, '')}: ${e.note}`);
}

test('--cache-to then --cache-from in an empty store: every step is a cache hit, same image and layers', async (t) => {
  if (!ready(t) || !registry) return;
  const host = registry.host;
  const ctx = context('cache', `FROM ${host}/kiln-test/busybox
ARG V=1
RUN echo "$V" > /v
COPY src /src
RUN cat /src/a.txt /v > /both
`, { 'src/a.txt': 'a\n' });
  const storeA = join(base, 'storeA');
  const first = kiln(storeA, ['build', '--progress=json', '--explain', '--insecure-registry', host, '--cache-to', `type=registry,ref=${host}/kiln-test/cache:main,mode=max`, '-t', 'it:a', ctx]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(verdicts(first.events).length, 3, first.stderr);
  assert.ok(verdicts(first.events).every((v) => /MISS/.test(v)), verdicts(first.events).join('\n'));

  const storeB = join(base, 'storeB');
  const second = kiln(storeB, ['build', '--progress=json', '--explain', '--cache-from', `type=registry,ref=${host}/kiln-test/cache:main`, '-t', 'it:b', ctx]);
  assert.equal(second.status, 0, second.stderr);
  // ARG is no step of its own (BuildKit lists none); the RUN's name shows the ARG's value.
  assert.deepEqual(verdicts(second.events), ['RUN echo "1" > /v: HIT', 'COPY src /src: HIT', 'RUN cat /src/a.txt /v > /both: HIT']);
  assert.equal(second.events.filter((e) => e.event === 'cached').length, 3);
  const a = await imageOf(storeA, 'it:a');
  const b = await imageOf(storeB, 'it:b');
  assert.deepEqual(b.diffIds, a.diffIds);
  assert.equal(b.id, a.id);
});

test('--push sends every -t name; pulling one into an empty store gives the same image ID', async (t) => {
  if (!ready(t) || !registry) return;
  const host = registry.host;
  const ctx = context('push', `FROM ${host}/kiln-test/busybox\nRUN echo pushed > /p\n`, {});
  const storeC = join(base, 'storeC');
  const r = kiln(storeC, ['build', '--progress=plain', '--push', '-t', `${host}/kiln-test/pushed:one`, '-t', `${host}/kiln-test/pushed:two`, ctx]);
  assert.equal(r.status, 0, r.stderr);
  const built = await imageOf(storeC, `${host}/kiln-test/pushed:one`);
  for (const tag of ['one', 'two']) {
    const storeD = join(base, `storeD-${tag}`);
    const pulled = kiln(storeD, ['pull', `${host}/kiln-test/pushed:${tag}`]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.equal((await imageOf(storeD, `${host}/kiln-test/pushed:${tag}`)).id, built.id);
  }
});

test('bad registry flag values are usage errors before the build runs', (t) => {
  if (!ready(t)) return;
  const ctx = context('usage', 'FROM scratch\nENV A=1\n', {});
  const store = join(base, 'storeE');
  const cases: [string[], RegExp][] = [
    [['--cache-to', 'type=local,dest=/tmp/x'], /--cache-to .*type=registry/],
    [['--cache-to', 'type=registry'], /ref=REFERENCE is required/],
    [['--cache-to', 'type=registry,ref=r.example/c,mode=most'], /mode must be min or max/],
    [['--cache-from', 'type=registry,ref=r.example/c,colour=red'], /unknown field "colour"/],
    [['--push'], /--push needs at least one -t/],
  ];
  for (const [flags, message] of cases) {
    const r = kiln(store, ['build', ...flags, ctx]);
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
