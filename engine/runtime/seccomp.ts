/**
 * The seccomp filter a container gets: kiln's default allow-list (seccomp/defaultProfile.ts),
 * a profile file in docker's format (`--security-opt seccomp=FILE`), or none (`unconfined`).
 * The profile is resolved for the container's capabilities and this machine's ABIs
 * (seccomp/resolve.ts) and compiled to classic BPF (seccomp/compile.ts); the addon only
 * installs the program. Compiled programs are kept per profile and capability set, so a build's
 * RUN steps compile the default once; the default with docker's default capabilities comes
 * compiled ahead (seccomp/precompiled.ts), so `kiln run` does not compile at all.
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../errors/kilnError.js';
import { hostAbis } from './seccomp/abi.js';
import { compileFilter } from './seccomp/compile.js';
import { DEFAULT_PROFILE } from './seccomp/defaultProfile.js';
import { parseSeccompProfile, type SeccompProfile } from './seccomp/profile.js';
import { kernelVersion, resolveProfile } from './seccomp/resolve.js';
import { PRECOMPILED_DEFAULT } from './seccomp/precompiled.js';
import { DOCKER_DEFAULT_CAPABILITIES } from './capabilities.js';

export type { SeccompProfile } from './seccomp/profile.js';

/** 'default': kiln's profile; 'unconfined': no filter; or a profile read from a file. */
export type SeccompSetting = 'default' | 'unconfined' | SeccompProfile;

const compiled = new WeakMap<SeccompProfile, Map<string, Buffer>>();

/** The BPF program for a container keeping `capabilities`; undefined when unconfined. */
export function seccompProgram(setting: SeccompSetting, capabilities: readonly string[], arch: string = process.arch): Buffer | undefined {
  if (setting === 'unconfined') return undefined;
  const profile = setting === 'default' ? DEFAULT_PROFILE : setting;
  const host = hostAbis(arch);
  if (!host) {
    throw new KilnError('SECCOMP_ARCH', `kiln has no system call table for this machine's architecture (${arch}), so it cannot confine containers with seccomp; run with --security-opt seccomp=unconfined to go without`, { exitCode: 125 });
  }
  const key = `${arch}:${[...capabilities].sort().join(',')}`;
  let perProfile = compiled.get(profile);
  if (!perProfile) compiled.set(profile, (perProfile = new Map()));
  let program = perProfile.get(key);
  if (!program) {
    const ahead = profile === DEFAULT_PROFILE && hasDefaultCapabilities(capabilities) && atLeast48(kernelVersion()) ? PRECOMPILED_DEFAULT[arch] : undefined;
    program = ahead !== undefined ? Buffer.from(ahead, 'base64') : compileFilter(resolveProfile(profile, { capabilities, host }));
    perProfile.set(key, program);
  }
  return program;
}

function hasDefaultCapabilities(capabilities: readonly string[]): boolean {
  return capabilities.length === DOCKER_DEFAULT_CAPABILITIES.length && DOCKER_DEFAULT_CAPABILITIES.every((c) => capabilities.includes(c));
}

const atLeast48 = ([major, minor]: [number, number]): boolean => major > 4 || (major === 4 && minor >= 8);

/** Reads `--security-opt seccomp=FILE`; a clear error for a file that is missing, unreadable or not a profile. */
export function loadSeccompProfile(path: string): SeccompProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new KilnError('SECCOMP_PROFILE', `opening seccomp profile (${path}) failed: ${why}`, { exitCode: 125 });
  }
  return parseSeccompProfile(text, path);
}
