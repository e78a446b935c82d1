import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyConfig } from '../../../../engine/image/config.js';
import { StageArgs } from '../../../../engine/plan/args.js';
import * as meta from '../../../../engine/steps/meta.js';
import { goDuration, goRune } from '../../../../engine/steps/goFormat.js';
import { goQuoteList } from '../../../../grammar/goText.js';
import type { StageState } from '../../../../engine/steps/state.js';
import type { HealthcheckInstruction } from '../../../../grammar/recipe.js';

function state(): StageState {
  const config = emptyConfig({ os: 'linux', architecture: 'amd64' });
  config.config = {};
  return { config, layers: [], args: new StageArgs(new Map(), new Map()), platform: { os: 'linux', architecture: 'amd64' }, cmdSetInStage: false };
}

test('EXPOSE: ranges and protocols become port keys; history as BuildKit prints the set', () => {
  const s = state();
  const line = meta.expose(s, ['8000-8002', '53/udp', '80/TCP']);
  assert.deepEqual(Object.keys(s.config.config?.ExposedPorts ?? {}).sort(), ['53/udp', '80/tcp', '8000/tcp', '8001/tcp', '8002/tcp']);
  assert.equal(line, 'EXPOSE map[53/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{} 8002/tcp:{}]');
  assert.throws(() => meta.exposedPortKeys('90-80'), /invalid range/);
  assert.throws(() => meta.exposedPortKeys('http'), /invalid containerPort/);
});

test('CMD and ENTRYPOINT: shell form wrapped in SHELL; ENTRYPOINT clears an inherited CMD but not one set in this stage', () => {
  const s = state();
  s.config.config = { Cmd: ['inherited'] };
  meta.setShell(s, ['/bin/bash', '-c']);
  assert.equal(meta.setEntrypoint(s, { form: 'shell', text: 'run it' }), 'ENTRYPOINT ["/bin/bash" "-c" "run it"]');
  assert.equal(s.config.config?.Cmd, null);
  meta.setCmd(s, { form: 'exec', argv: ['a', 'b'] });
  meta.setEntrypoint(s, { form: 'exec', argv: ['/e'] });
  assert.deepEqual(s.config.config?.Cmd, ['a', 'b']);
});

test('ENV replaces in place and appends; LABEL merges; history lines', () => {
  const s = state();
  s.config.config = { Env: ['PATH=/bin', 'A=1'] };
  assert.equal(meta.setEnv(s, [{ key: 'A', value: '2' }, { key: 'B', value: 'x y' }]), 'ENV A=2 B=x y');
  assert.deepEqual(s.config.config?.Env, ['PATH=/bin', 'A=2', 'B=x y']);
  meta.setLabels(s, [{ key: 'a', value: '1' }]);
  assert.equal(meta.setLabels(s, [{ key: 'b', value: '2' }]), 'LABEL b=2');
  assert.deepEqual(s.config.config?.Labels, { a: '1', b: '2' });
});

test('HEALTHCHECK, STOPSIGNAL, VOLUME, ONBUILD triggers taken once, default PATH', () => {
  const s = state();
  const h = { kind: 'HEALTHCHECK', test: ['CMD-SHELL', 'curl x'], interval: 30e9, retries: 3 } as unknown as HealthcheckInstruction;
  assert.equal(meta.setHealthcheck(s, h), 'HEALTHCHECK &{["CMD-SHELL" "curl x"] "30s" "0s" "0s" "0s" \'\\x03\'}');
  assert.deepEqual(s.config.config?.Healthcheck, { Test: ['CMD-SHELL', 'curl x'], Interval: 30e9, Retries: 3 });
  assert.equal(meta.setStopSignal(s, 'SIGRTMIN+3'), 'STOPSIGNAL SIGRTMIN+3');
  assert.throws(() => meta.setStopSignal(s, 'SIGNOPE'), /invalid signal/);
  assert.equal(meta.addVolumes(s, ['/a', '/b']), 'VOLUME [/a /b]');
  meta.addOnbuild(s, 'RUN make');
  assert.deepEqual(meta.takeOnbuildTriggers(s), ['RUN make']);
  assert.deepEqual(meta.takeOnbuildTriggers(s), []);
  meta.ensurePath(s);
  assert.equal(s.config.config?.Env?.[0], `PATH=${meta.DEFAULT_PATH}`);
});

test('a base without PATH gets the default one after its own variables, as BuildKit appends it', () => {
  const s = state();
  s.config.config = { Env: ['A=1', 'B=2'] };
  meta.ensurePath(s);
  assert.deepEqual(s.config.config.Env, ['A=1', 'B=2', `PATH=${meta.DEFAULT_PATH}`]);
  meta.ensurePath(s);
  assert.equal(s.config.config.Env?.length, 3);
});

test('Go formatting of durations, string lists and runes', () => {
  assert.equal(goDuration(0), '0s');
  assert.equal(goDuration(1.5e9), '1.5s');
  assert.equal(goDuration(90e9), '1m30s');
  assert.equal(goDuration(500e6), '500ms');
  assert.equal(goDuration(7200e9), '2h0m0s');
  assert.equal(goQuoteList(['a b', 'c"d']), '["a b" "c\\"d"]');
  // Go's %q, not JSON's escapes: a bell, a vertical tab, DEL and a non-printable rune as Go spells them.
  assert.equal(goQuoteList(['\x07\x0b\x7f\u200b']), '["\\a\\v\\x7f\\u200b"]');
  assert.equal(goRune(0), "'\\x00'");
  assert.equal(goRune(65), "'A'");
});
