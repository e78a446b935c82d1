import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepKey, stepKeyText, type StepKeyParts } from '../../../cache/key.js';

const base: StepKeyParts = {
  parent: 'sha256:abc',
  definition: { kind: 'RUN', argv: ['/bin/sh', '-c', 'make'], workdir: '/src', user: '' },
  env: { PATH: '/usr/bin:/bin' },
  args: { VERSION: '1' },
  platform: 'linux/amd64',
};

test('the same parts give the same key, whatever the order of object members', async () => {
  const a = await stepKey(base);
  const b = await stepKey({
    platform: 'linux/amd64',
    args: { VERSION: '1' },
    env: { PATH: '/usr/bin:/bin' },
    definition: { user: '', workdir: '/src', argv: ['/bin/sh', '-c', 'make'], kind: 'RUN' },
    parent: 'sha256:abc',
  });
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.equal(a, b);
});

test('a key is stable across releases of the hasher (pinned value)', async () => {
  // If this changes, every user's cache is invalidated: bump KEY_VERSION on purpose instead.
  assert.equal(stepKeyText(base), '{"args":{"VERSION":"1"},"definition":{"argv":["/bin/sh","-c","make"],"kind":"RUN","user":"","workdir":"/src"},"env":{"PATH":"/usr/bin:/bin"},"parent":"sha256:abc","platform":"linux/amd64","v":"kiln-step-key-v3"}');
  assert.equal(await stepKey(base), await stepKey(structuredClone(base)));
});

test('every input that can change a result changes the key', async () => {
  const k = await stepKey(base);
  const variants: StepKeyParts[] = [
    { ...base, parent: 'sha256:abd' },
    { ...base, definition: { ...(base.definition as object), argv: ['/bin/sh', '-c', 'make all'] } },
    { ...base, env: { PATH: '/bin' } },
    { ...base, args: { VERSION: '2' } },
    { ...base, args: { VERSION: undefined } },
    { ...base, args: {} },
    { ...base, platform: 'linux/arm64' },
    { ...base, sources: 'aa' },
    { ...base, inputs: ['bb'] },
  ];
  const keys = await Promise.all(variants.map(stepKey));
  for (const v of keys) assert.notEqual(v, k);
  assert.equal(new Set(keys).size, keys.length);
});

test('proxy build args never change the key, ENV-set proxies do', async () => {
  const k = await stepKey(base);
  assert.equal(await stepKey({ ...base, args: { ...base.args, HTTP_PROXY: 'http://p:3128', no_proxy: 'x' } }), k);
  assert.equal(
    await stepKey({ ...base, args: { ...base.args, https_proxy: 'http://p' }, env: { ...base.env, https_proxy: 'http://p' } }),
    k,
  );
  assert.notEqual(await stepKey({ ...base, env: { ...base.env, HTTP_PROXY: 'http://set-by-ENV' } }), k);
});

test('a step definition is what keys made before it had its own file covered (pinned text)', async () => {
  const { parseDockerfile } = await import('../../../grammar/parser.js');
  const { toRecipe } = await import('../../../grammar/instructions.js');
  const { canonicalJson } = await import('../../../cache/canonicalJson.js');
  const { stepDefinition } = await import('../../../cache/stepDefinition.js');
  const instr = toRecipe(parseDockerfile('FROM scratch\nCOPY --chmod=644 <<EOF a /dst/\nhi\nEOF\n')).stages[0]?.instructions[0];
  assert.ok(instr);
  const definition = stepDefinition({ kind: instr.kind, source: instr.source, onbuild: false, escape: '\\', sourceDateEpoch: undefined, workdir: '/w', user: undefined, shell: undefined });
  assert.equal(canonicalJson(definition), '{"escape":"\\\\","flags":["--chmod=644"],"heredocs":[{"chomp":false,"content":"hi\\n","expand":true,"fd":0,"name":"EOF"}],"kind":"COPY","onbuild":false,"shell":null,"sourceDateEpoch":null,"text":"COPY --chmod=644 <<EOF a /dst/","user":"","workdir":"/w"}');
  const shell = stepDefinition({ kind: 'RUN', source: instr.source, onbuild: true, escape: '`', sourceDateEpoch: 5, workdir: undefined, user: 'app', shell: ['/bin/bash', '-c'] });
  assert.deepEqual([(shell as Record<string, unknown>).shell, (shell as Record<string, unknown>).sourceDateEpoch, (shell as Record<string, unknown>).workdir], [['/bin/bash', '-c'], 5, '']);
});
