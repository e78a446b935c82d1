/**
 * The device allow-list as a BPF_PROG_TYPE_CGROUP_DEVICE program for cgroup v2, as runc builds
 * it (opencontainers/cgroups devices/devicefilter.go): the kernel calls it on every open and
 * mknod of a device node by a process of the cgroup, with a `bpf_cgroup_dev_ctx`
 * { u32 access_type (low 16 bits: BLOCK 1 / CHAR 2; high 16: MKNOD 1 | READ 2 | WRITE 4);
 * u32 major; u32 minor }, and the access goes through when it returns 1. The rules are tried in
 * order; the first that matches allows; none matching refuses. Emitted here as raw eBPF
 * instructions; the addon only loads and attaches them.
 */
import { endianness } from 'node:os';
import type { DeviceRule } from './deviceRules.js';

export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;

// Opcodes (class | op | source).
const LDX_MEM_W = 0x61;
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU64_MOV_K = 0xb7;
const ALU64_MOV_X = 0xbf;
const JMP_JNE_K = 0x55;
const JMP_JNE_X = 0x5d;
const JMP_EXIT = 0x95;

const TYPE_BITS: Record<string, number> = { b: 1, c: 2 };
const ACCESS_BITS: Record<string, number> = { m: 1, r: 2, w: 4 };

interface Insn { code: number; dst: number; src: number; off: number; imm: number }

function accessMask(access: string): number {
  let mask = 0;
  for (const c of access) mask |= ACCESS_BITS[c] ?? 0;
  return mask;
}

/**
 * The checks of one rule, each "skip to the next rule when it fails" (offsets fixed later).
 * Registers: r2 type, r3 requested access, r4 major, r5 minor; r1 is scratch after the loads.
 */
function ruleChecks(rule: DeviceRule): Insn[] {
  const out: Insn[] = [];
  const skip = (code: number, dst: number, imm: number, src = 0): void => { out.push({ code, dst, src, off: -1, imm }); };
  if (rule.type !== 'a') skip(JMP_JNE_K, 2, TYPE_BITS[rule.type] as number);
  const mask = accessMask(rule.access);
  if (mask !== 7) {
    // requested ⊆ allowed: (requested & allowed) == requested
    out.push({ code: ALU64_MOV_X, dst: 1, src: 3, off: 0, imm: 0 });
    out.push({ code: ALU32_AND_K, dst: 1, src: 0, off: 0, imm: mask });
    skip(JMP_JNE_X, 1, 0, 3);
  }
  if (rule.major !== '*') skip(JMP_JNE_K, 4, rule.major);
  if (rule.minor !== '*') skip(JMP_JNE_K, 5, rule.minor);
  return out;
}

export function deviceProgramInstructions(rules: readonly DeviceRule[]): Insn[] {
  const prog: Insn[] = [
    { code: LDX_MEM_W, dst: 2, src: 1, off: 0, imm: 0 },
    { code: ALU64_MOV_X, dst: 3, src: 2, off: 0, imm: 0 },
    { code: ALU32_AND_K, dst: 2, src: 0, off: 0, imm: 0xffff },
    { code: ALU32_RSH_K, dst: 3, src: 0, off: 0, imm: 16 },
    { code: LDX_MEM_W, dst: 4, src: 1, off: 4, imm: 0 },
    { code: LDX_MEM_W, dst: 5, src: 1, off: 8, imm: 0 },
  ];
  for (const rule of rules) {
    const checks = ruleChecks(rule);
    const verdict: Insn[] = [{ code: ALU64_MOV_K, dst: 0, src: 0, off: 0, imm: 1 }, { code: JMP_EXIT, dst: 0, src: 0, off: 0, imm: 0 }];
    const block = [...checks, ...verdict];
    // A failed check jumps past the rest of this rule's block.
    block.forEach((insn, i) => { if (insn.off === -1) insn.off = block.length - i - 1; });
    prog.push(...block);
    // A rule matching everything ends the program: the verifier refuses code nothing reaches.
    if (checks.length === 0) return prog;
  }
  prog.push({ code: ALU64_MOV_K, dst: 0, src: 0, off: 0, imm: 0 }, { code: JMP_EXIT, dst: 0, src: 0, off: 0, imm: 0 });
  return prog;
}

/** The program as the kernel takes it: struct bpf_insn, 8 bytes each, in this machine's byte order. */
export function deviceProgram(rules: readonly DeviceRule[]): Buffer {
  const insns = deviceProgramInstructions(rules);
  const big = endianness() === 'BE';
  const buf = Buffer.alloc(insns.length * 8);
  const offs = new Int16Array(buf.buffer, buf.byteOffset, insns.length * 4);
  const imms = new Int32Array(buf.buffer, buf.byteOffset, insns.length * 2);
  insns.forEach((insn, i) => {
    buf[i * 8] = insn.code;
    buf[i * 8 + 1] = big ? (insn.dst << 4) | insn.src : (insn.src << 4) | insn.dst;
    offs[i * 4 + 1] = insn.off;
    imms[i * 2 + 1] = insn.imm;
  });
  return buf;
}
