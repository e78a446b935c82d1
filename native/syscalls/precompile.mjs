#!/usr/bin/env node
// Writes engine/runtime/seccomp/precompiled.ts: kiln's default seccomp program for docker's
// default capabilities on x86_64 and aarch64 hosts, compiled ahead so a container start need not
// (resolving and compiling the profile costs a cold process several milliseconds). A unit test
// compiles them afresh and compares: after changing the profile, the compiler or the system call
// table, run `npm run build` and then this script (node native/syscalls/precompile.mjs).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { compileDefault } = await import(join(root, 'dist', 'engine', 'runtime', 'seccomp', 'precompiled.js'));
const lines = [
  '// Written by native/syscalls/precompile.mjs (after npm run build); do not edit.',
  '/**',
  ' * kiln\'s default seccomp program for docker\'s default capabilities, compiled ahead, base64, per',
  ' * host architecture (process.arch); `compileDefault` is how it was made (the unit test checks).',
  ' */',
  "import { DOCKER_DEFAULT_CAPABILITIES } from '../capabilities.js';",
  "import { hostAbis } from './abi.js';",
  "import { compileFilter } from './compile.js';",
  "import { DEFAULT_PROFILE } from './defaultProfile.js';",
  "import { resolveProfile } from './resolve.js';",
  '',
  'export const PRECOMPILED_DEFAULT: Readonly<Record<string, string>> = {',
];
for (const arch of ['x64', 'arm64']) {
  const b64 = compileDefault(arch).toString('base64');
  lines.push(`  ${arch}:`);
  for (let i = 0; i < b64.length; i += 100) lines.push(`    '${b64.slice(i, i + 100)}'${i + 100 < b64.length ? ' +' : ','}`);
}
lines.push(
  '};',
  '',
  '/** The default program for docker\'s default capabilities on `arch`, on a kernel of 4.8 or later. */',
  'export function compileDefault(arch: string): Buffer {',
  '  const host = hostAbis(arch);',
  "  if (!host) throw new Error(`no system call table for ${arch}`);",
  '  return compileFilter(resolveProfile(DEFAULT_PROFILE, { capabilities: DOCKER_DEFAULT_CAPABILITIES, host, kernel: [4, 8] }));',
  '}',
  '',
);
const out = join(root, 'engine', 'runtime', 'seccomp', 'precompiled.ts');
writeFileSync(out, lines.join('\n'));
console.log(`wrote ${out}`);
