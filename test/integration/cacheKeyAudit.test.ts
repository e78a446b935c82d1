/**
 * The cache-key audit (README, "Cache keys"): for every input that changes what a step means,
 * two builds that differ only in that input, one after the other in one store. A wrong cache hit
 * would hand the second build the first one's result, so the second build's image must be exactly
 * what the same build makes with --no-cache. For the inputs deliberately kept out of the key
 * (a secret's content, proxy build args, undeclared build args) the second build must hit.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-key-audit-'));
const storeRoot = join(work, 'store');
let caseNo = 0;

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(work, { recursive: true, force: true }));

const ready = (t: TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

/** One build: a context, its Dockerfile and files, the flags and environment it runs with. */
interface BuildSpec {
  dockerfile: string;
  files?: Record<string, string>;
  flags?: string[];
  env?: Record<string, string>;
}

function kiln(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [kilnBin, ...args], { encoding: 'utf8', env: { ...process.env, KILN_ROOT: storeRoot, ...env } });
}

/** A context for the build, every file with the same mtime (the image's `created` follows them). */
function contextOf(spec: BuildSpec): string {
  const dir = join(work, `ctx-${++caseNo}`);
  mkdirSync(dir, { recursive: true });
  const files = { Dockerfile: spec.dockerfile, ...spec.files };
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
    utimesSync(join(dir, p), 1_700_000_000, 1_700_000_000);
  }
  return dir;
}

/** Builds and returns the image ID and what --explain said. */
function build(spec: BuildSpec, extra: string[] = [], ctx = contextOf(spec)): { id: string; explain: string } {
  const r = kiln(['build', '--progress=plain', '--explain', ...(spec.flags ?? []), ...extra, ctx], spec.env);
  assert.equal(r.status, 0, r.stderr);
  const id = /writing image (sha256:[0-9a-f]{64}) done/.exec(r.stderr)?.[1];
  assert.ok(id, r.stderr);
  return { id, explain: r.stderr };
}

/** A then B with the cache, and B again with --no-cache: B must not have reused A's result. */
function assertNoWrongHit(a: BuildSpec, b: BuildSpec): void {
  const first = build(a);
  const ctx = contextOf(b);
  const cached = build(b, [], ctx);
  const fresh = build(b, ['--no-cache'], ctx);
  assert.notEqual(first.id, fresh.id, 'the two builds should make different images (the flipped input matters)');
  assert.equal(cached.id, fresh.id, `the second build reused a result of the first:\n${cached.explain}`);
}

/** A then B: B must be served from the cache entirely. */
function assertHit(a: BuildSpec, b: BuildSpec): void {
  build(a);
  const second = build(b);
  assert.doesNotMatch(second.explain, /MISS/, `the second build missed:\n${second.explain}`);
  assert.match(second.explain, /HIT/);
}

const unique = (): string => `${process.pid}-${caseNo}-${Date.now()}`;

test('the # escape directive is in the key: the same ENV line under another escape character is another step', (t) => {
  if (!ready(t)) return;
  assertNoWrongHit(
    { dockerfile: 'FROM scratch\nENV X=a\\b\n' },
    { dockerfile: '# escape=`\nFROM scratch\nENV X=a\\b\n' },
  );
});

test('the target platform is in the key', (t) => {
  if (!ready(t)) return;
  const dockerfile = 'FROM scratch\nENV A=1\nCOPY f /f\n';
  assertNoWrongHit({ dockerfile, files: { f: 'f' }, flags: ['--platform', 'linux/amd64'] }, { dockerfile, files: { f: 'f' }, flags: ['--platform', 'linux/arm64'] });
});

test('SHELL is in the key (and so are steps after a different SHELL)', (t) => {
  if (!ready(t)) return;
  assertNoWrongHit(
    { dockerfile: 'FROM kiln-test/busybox\nSHELL ["/bin/sh", "-c"]\nRUN echo "$0" > /shell\n' },
    { dockerfile: 'FROM kiln-test/busybox\nSHELL ["/bin/busybox", "sh", "-c"]\nRUN echo "$0" > /shell\n' },
  );
});

test('--chmod as written is in the key', (t) => {
  if (!ready(t)) return;
  assertNoWrongHit({ dockerfile: 'FROM scratch\nCOPY --chmod=644 f /f\n', files: { f: 'f' } }, { dockerfile: 'FROM scratch\nCOPY --chmod=0600 f /f\n', files: { f: 'f' } });
});

test('--chmod as resolved (an ARG in it) is in the key', (t) => {
  if (!ready(t)) return;
  const dockerfile = 'FROM scratch\nARG M\nCOPY --chmod=$M f /f\n';
  assertNoWrongHit({ dockerfile, files: { f: 'f' }, flags: ['--build-arg', 'M=600'] }, { dockerfile, files: { f: 'f' }, flags: ['--build-arg', 'M=644'] });
});

test('--chown as resolved through the image\'s /etc/passwd is in the key (through the parent steps)', (t) => {
  if (!ready(t)) return;
  const dockerfile = 'FROM scratch AS base\nCOPY passwd /etc/passwd\nFROM base\nCOPY --chown=app f /f\n';
  assertNoWrongHit(
    { dockerfile, files: { f: 'f', passwd: 'app:x:1000:1000::/:/bin/sh\n' } },
    { dockerfile, files: { f: 'f', passwd: 'app:x:2000:2000::/:/bin/sh\n' } },
  );
});

test('--chown as written and through an ARG is in the key', (t) => {
  if (!ready(t)) return;
  const dockerfile = 'FROM scratch\nARG O\nCOPY --chown=$O f /f\n';
  assertNoWrongHit({ dockerfile, files: { f: 'f' }, flags: ['--build-arg', 'O=1:1'] }, { dockerfile, files: { f: 'f' }, flags: ['--build-arg', 'O=2:2'] });
});

test('mount options are in the key', (t) => {
  if (!ready(t)) return;
  const id = unique();
  assertNoWrongHit(
    { dockerfile: `FROM kiln-test/busybox\nRUN --mount=type=tmpfs,target=/t,size=1m df -k /t | tail -n 1 | awk '{print $2}' > /size-${id}\n` },
    { dockerfile: `FROM kiln-test/busybox\nRUN --mount=type=tmpfs,target=/t,size=2m df -k /t | tail -n 1 | awk '{print $2}' > /size-${id}\n` },
  );
});

test('a secret\'s id is in the key', (t) => {
  if (!ready(t)) return;
  const dir = join(work, `secrets-${unique()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'a'), 'alpha');
  writeFileSync(join(dir, 'b'), 'beta');
  const dockerfile = 'FROM kiln-test/busybox\nARG S\nRUN --mount=type=secret,id=$S,target=/s cat /s > /seen\n';
  const secrets = ['--secret', `id=a,src=${join(dir, 'a')}`, '--secret', `id=b,src=${join(dir, 'b')}`];
  assertNoWrongHit({ dockerfile, flags: [...secrets, '--build-arg', 'S=a'] }, { dockerfile, flags: [...secrets, '--build-arg', 'S=b'] });
});

test('a secret\'s content is not in the key (as BuildKit: a new password does not rebuild)', (t) => {
  if (!ready(t)) return;
  const dir = join(work, `secret-content-${unique()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'one'), 'first value');
  writeFileSync(join(dir, 'two'), 'second value');
  const dockerfile = `FROM kiln-test/busybox\nRUN --mount=type=secret,id=s test -s /run/secrets/s && echo ${unique()} > /used\n`;
  assertHit({ dockerfile, flags: ['--secret', `id=s,src=${join(dir, 'one')}`] }, { dockerfile, flags: ['--secret', `id=s,src=${join(dir, 'two')}`] });
});

test('the network mode is in the key', (t) => {
  if (!ready(t)) return;
  // Whether the step sees more than lo, not how many interfaces: the host's come and go as other
  // containers start and stop, and a count would make two fresh builds differ.
  const seen = 'if [ "$(wc -l < /proc/net/dev)" -gt 3 ]; then echo more-than-lo; else echo lo-only; fi > /ifaces';
  assertNoWrongHit(
    { dockerfile: `FROM kiln-test/busybox\nRUN --network=none ${seen}\n` },
    { dockerfile: `FROM kiln-test/busybox\nRUN --network=host ${seen}\n` },
  );
});

test('the security mode as written is in the key', (t) => {
  if (!ready(t)) return;
  const first = build({ dockerfile: 'FROM kiln-test/busybox\nRUN --security=sandbox echo one > /f\n' });
  const second = build({ dockerfile: 'FROM kiln-test/busybox\nRUN echo one > /f\n' });
  assert.match(second.explain, /MISS/, 'a RUN written without --security is another step');
  void first;
});

test('SOURCE_DATE_EPOCH is in the key: a layer made under another epoch is not reused', (t) => {
  if (!ready(t)) return;
  const dockerfile = 'FROM kiln-test/busybox\nCOPY f /f\nRUN echo ran > /ran\n';
  assertNoWrongHit({ dockerfile, files: { f: 'f' }, env: { SOURCE_DATE_EPOCH: '100' } }, { dockerfile, files: { f: 'f' }, env: { SOURCE_DATE_EPOCH: '200' } });
});

test('COPY --from an image name is keyed by the image it names now: a moved tag is another input', (t) => {
  if (!ready(t)) return;
  const tag = `key-audit-src:${unique()}`;
  const makeSource = (text: string): void => {
    const r = kiln(['build', '-q', '-t', tag, contextOf({ dockerfile: 'FROM scratch\nCOPY f /f\n', files: { f: text } })]);
    assert.equal(r.status, 0, r.stderr);
  };
  const dockerfile = `FROM scratch\nCOPY --from=${tag} /f /copied\n`;
  makeSource('one');
  const first = build({ dockerfile });
  makeSource('two');
  const cached = build({ dockerfile });
  const fresh = build({ dockerfile }, ['--no-cache']);
  assert.notEqual(first.id, fresh.id);
  assert.equal(cached.id, fresh.id, `the build reused the copy from the image the tag named before:\n${cached.explain}`);
});

test('.dockerignore changing what COPY . selects is in the key', (t) => {
  if (!ready(t)) return;
  const files = { a: 'a', b: 'b' };
  assertNoWrongHit({ dockerfile: 'FROM scratch\nCOPY . /ctx/\n', files: { ...files, '.dockerignore': 'a\n' } }, { dockerfile: 'FROM scratch\nCOPY . /ctx/\n', files: { ...files, '.dockerignore': 'b\n' } });
});

test('proxy build args are not in the key (as BuildKit: another proxy makes the same layers)', (t) => {
  if (!ready(t)) return;
  const dockerfile = `FROM kiln-test/busybox\nRUN echo ${unique()} > /f\n`;
  assertHit({ dockerfile, flags: ['--build-arg', 'HTTP_PROXY=http://one:3128'] }, { dockerfile, flags: ['--build-arg', 'HTTP_PROXY=http://two:3128', '--build-arg', 'no_proxy=x'] });
});

test('a build arg no ARG declares is not in the key', (t) => {
  if (!ready(t)) return;
  const dockerfile = `FROM kiln-test/busybox\nRUN echo ${unique()} > /f\n`;
  assertHit({ dockerfile, flags: ['--build-arg', 'UNUSED=1'] }, { dockerfile, flags: ['--build-arg', 'UNUSED=2'] });
});
