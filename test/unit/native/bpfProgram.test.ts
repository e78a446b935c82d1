/**
 * loadBpfProgram under a storm of signals: the kernel's verifier gives up with EAGAIN when a
 * signal is pending while it checks a program, and a CPU profiler (SIGPROF every few dozen
 * microseconds) made `kiln run` fail to load its device filter two times in three. The addon
 * holds signals back while it loads; this loads docker's device rules many times under a
 * profiler's fastest interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, prerequisite } from '../../support/env.js';

const nativeIndex = fileURLToPath(new URL('../../../native/index.js', import.meta.url));
const deviceProgram = fileURLToPath(new URL('../../../engine/runtime/deviceProgram.js', import.meta.url));
const deviceRules = fileURLToPath(new URL('../../../engine/runtime/deviceRules.js', import.meta.url));

test('a device program loads under a profiler\'s SIGPROF storm', (t) => {
  if (!prerequisite(t, isRoot, 'bpf(BPF_PROG_LOAD) of a cgroup device program needs root')) return;
  const profiles = mkdtempSync(join(tmpdir(), 'kiln-bpf-prof-'));
  try {
    const script = `
      import { closeSync } from 'node:fs';
      const { nativeBinding } = await import(${JSON.stringify(nativeIndex)});
      const { deviceProgram, BPF_PROG_TYPE_CGROUP_DEVICE } = await import(${JSON.stringify(deviceProgram)});
      const { DEFAULT_DEVICE_RULES } = await import(${JSON.stringify(deviceRules)});
      const code = deviceProgram(DEFAULT_DEVICE_RULES);
      for (let i = 0; i < 200; i++) closeSync(nativeBinding().loadBpfProgram(BPF_PROG_TYPE_CGROUP_DEVICE, code, 'Apache-2.0'));
      process.stdout.write('loaded 200\\n');`;
    const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profiles, '--cpu-prof-interval', '20', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'loaded 200\n');
    assert.equal(r.status, 0);
  } finally {
    rmSync(profiles, { recursive: true, force: true });
  }
});
