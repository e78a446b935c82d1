/**
 * A resolved seccomp filter as a classic BPF program (struct sock_filter, 8 bytes each) for
 * prctl(PR_SET_SECCOMP): the architecture picks an ABI's section (x86_64's splits off x32 by the
 * number's top bit); a balanced binary search over the system call numbers — runs of numbers
 * with the same verdict merged — reaches a return, or a block of argument comparisons tried
 * rule by rule. A search a few compares deep costs every call the same whatever its number,
 * where a list compared in order (libseccomp's default) costs the last call hundreds.
 *
 * Conditional jumps reach 255 instructions at most: the assembler lays the program out, gives
 * each jump that falls short an unconditional jump (32-bit reach) after it, and lays it out
 * again until every jump fits. Every jump goes forward, as the kernel requires.
 */
import { endianness } from 'node:os';
import { KilnError } from '../../errors/kilnError.js';
import { X32_BIT } from './abi.js';
import type { ArgCheck } from './profile.js';
import type { AbiFilter, ResolvedFilter, SyscallDecision } from './resolve.js';

const LD_W_ABS = 0x20;
const ALU_AND_K = 0x54;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const RET_K = 0x06;

/** The kernel's limit (BPF_MAXINSNS). */
export const MAX_INSTRUCTIONS = 4096;

const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argOffset = (index: number, high: boolean): number => 16 + 8 * index + ((high ? 4 : 0) ^ (endianness() === 'BE' ? 4 : 0));

interface Label { at: number }
interface CondJump { kind: 'cond'; code: number; k: number; jt: Label; jf: Label; farT: boolean; farF: boolean }
type Item =
  | { kind: 'label'; label: Label }
  | { kind: 'plain'; code: number; k: number }
  | { kind: 'jump'; label: Label }
  | CondJump;

/** Instructions and labels, laid out and encoded by `assemble`. */
class Assembler {
  private items: Item[] = [];
  label(): Label { return { at: -1 }; }
  place(label: Label): void { this.items.push({ kind: 'label', label }); }
  load(offset: number): void { this.items.push({ kind: 'plain', code: LD_W_ABS, k: offset }); }
  and(k: number): void { this.items.push({ kind: 'plain', code: ALU_AND_K, k }); }
  ret(k: number): void { this.items.push({ kind: 'plain', code: RET_K, k }); }
  jump(label: Label): void { this.items.push({ kind: 'jump', label }); }
  /** The jump is returned so targets not yet made can be set once they are. */
  cond(code: number, k: number, jt: Label, jf: Label): CondJump {
    const jump: CondJump = { kind: 'cond', code, k: k >>> 0, jt, jf, farT: false, farF: false };
    this.items.push(jump);
    return jump;
  }

  private layout(): number {
    let pos = 0;
    for (const it of this.items) {
      if (it.kind === 'label') it.label.at = pos;
      else pos += it.kind === 'cond' ? 1 + Number(it.farT) + Number(it.farF) : 1;
    }
    return pos;
  }

  assemble(): Buffer {
    let length = this.layout();
    for (let changed = true; changed;) {
      changed = false;
      let pos = 0;
      for (const it of this.items) {
        if (it.kind === 'label') continue;
        if (it.kind === 'cond') {
          if (!it.farT && it.jt.at - (pos + 1) > 255) { it.farT = true; changed = true; }
          if (!it.farF && it.jf.at - (pos + 1) > 255) { it.farF = true; changed = true; }
          pos += 1 + Number(it.farT) + Number(it.farF);
        } else {
          pos += 1;
        }
      }
      if (changed) length = this.layout();
    }
    if (length > MAX_INSTRUCTIONS) throw new KilnError('SECCOMP_PROFILE', `the seccomp filter would have ${length} instructions; the kernel takes at most ${MAX_INSTRUCTIONS}`, { exitCode: 125 });
    // struct sock_filter in this machine's byte order, written through typed views (Buffer's
    // checked writes cost more than the rest of the compilation before the code is optimised).
    const out = Buffer.alloc(length * 8);
    const codes = new Uint16Array(out.buffer, out.byteOffset, length * 4);
    const ks = new Uint32Array(out.buffer, out.byteOffset, length * 2);
    let pos = 0;
    const put = (code: number, jt: number, jf: number, k: number): void => {
      if (jt < 0 || jf < 0 || jt > 255 || jf > 255 || k < 0) throw new Error(`seccomp assembler: bad jump at ${pos}`);
      codes[pos * 4] = code;
      out[pos * 8 + 2] = jt;
      out[pos * 8 + 3] = jf;
      ks[pos * 2 + 1] = k;
      pos++;
    };
    for (const it of this.items) {
      if (it.kind === 'label') continue;
      if (it.kind === 'plain') put(it.code, 0, 0, it.k);
      else if (it.kind === 'jump') put(JA, 0, 0, it.label.at - (pos + 1));
      else {
        const p = pos;
        const slotT = p + 1;
        const slotF = p + 1 + Number(it.farT);
        put(it.code, it.farT ? 0 : it.jt.at - (p + 1), it.farF ? slotF - (p + 1) : it.jf.at - (p + 1), it.k);
        if (it.farT) put(JA, 0, 0, it.jt.at - (slotT + 1));
        if (it.farF) put(JA, 0, 0, it.jf.at - (slotF + 1));
      }
    }
    return out;
  }
}

const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);
const lo32 = (v: bigint): number => Number(v & 0xffffffffn);

/**
 * One comparison of a 64-bit argument, going to `pass` or `fail`. On a 32-bit ABI the high word
 * is zero, so its part of the comparison is decided here and only the low word is loaded.
 */
function compare(a: Assembler, c: ArgCheck, narrow: boolean, pass: Label, fail: Label): void {
  const vhi = hi32(c.value);
  const vlo = lo32(c.value);
  const lo = argOffset(c.index, false);
  const hi = argOffset(c.index, true);
  const next = (): Label => a.label();
  if (c.op === 'SCMP_CMP_MASKED_EQ') {
    // (arg & value) == valueTwo; an expected bit outside the mask can never match.
    const ehi = hi32(c.valueTwo);
    if (narrow && ehi !== 0) { a.jump(fail); return; }
    if (!narrow) { const l = next(); a.load(hi); a.and(vhi); a.cond(JEQ_K, ehi, l, fail); a.place(l); }
    a.load(lo); a.and(vlo); a.cond(JEQ_K, lo32(c.valueTwo), pass, fail);
    return;
  }
  // The high words: equal means the low words decide; otherwise the high words already do.
  const above = c.op === 'SCMP_CMP_GT' || c.op === 'SCMP_CMP_GE' || c.op === 'SCMP_CMP_NE' ? pass : fail;
  const below = c.op === 'SCMP_CMP_LT' || c.op === 'SCMP_CMP_LE' || c.op === 'SCMP_CMP_NE' ? pass : fail;
  if (narrow) {
    if (vhi !== 0) { a.jump(below); return; }
  } else {
    const equal = next();
    const notAbove = next();
    a.load(hi);
    a.cond(JGT_K, vhi, above, notAbove);
    a.place(notAbove);
    a.cond(JEQ_K, vhi, equal, below);
    a.place(equal);
  }
  a.load(lo);
  switch (c.op) {
    case 'SCMP_CMP_EQ': a.cond(JEQ_K, vlo, pass, fail); break;
    case 'SCMP_CMP_NE': a.cond(JEQ_K, vlo, fail, pass); break;
    case 'SCMP_CMP_GT': a.cond(JGT_K, vlo, pass, fail); break;
    case 'SCMP_CMP_GE': a.cond(JGE_K, vlo, pass, fail); break;
    case 'SCMP_CMP_LT': a.cond(JGE_K, vlo, fail, pass); break;
    case 'SCMP_CMP_LE': a.cond(JGT_K, vlo, fail, pass); break;
  }
}

/** The argument block of one system call: its rules in order, then its fallback. */
function ruleBlock(a: Assembler, d: SyscallDecision, narrow: boolean): void {
  for (const rule of d.rules) {
    const nextRule = a.label();
    for (const check of rule.checks) {
      const passed = a.label();
      compare(a, check, narrow, passed, nextRule);
      a.place(passed);
    }
    a.ret(rule.verdict);
    a.place(nextRule);
  }
  a.ret(d.fallback);
}

interface Run { start: number; key: string }

/** Consecutive numbers with the same verdict, from 0 up to 2^32-1 (x32: from X32_BIT). */
function runs(f: AbiFilter, first: number): Run[] {
  const out: Run[] = [];
  const push = (start: number, key: string): void => {
    if (out.length > 0 && out[out.length - 1]?.key === key) return;
    out.push({ start, key });
  };
  let next = first;
  for (const nr of [...f.decisions.keys()].sort((x, y) => x - y)) {
    if (nr > next) push(next, 'default');
    const d = f.decisions.get(nr) as SyscallDecision;
    push(nr, d.rules.length === 0 ? `ret:${d.fallback}` : `block:${nr}`);
    next = nr + 1;
  }
  if (next <= f.lastNumber) push(next, 'default');
  push(f.lastNumber + 1, 'beyond');
  return out;
}

/** One ABI's number search and its blocks; `target(key)` gives the label a run leads to. */
function abiSection(a: Assembler, f: AbiFilter, first: number, returns: (verdict: number) => Label): void {
  const blocks = new Map<number, Label>();
  const target = (key: string): Label => {
    if (key === 'default') return returns(f.defaultVerdict);
    if (key === 'beyond') return returns(f.beyond);
    if (key.startsWith('ret:')) return returns(Number(key.slice(4)));
    const nr = Number(key.slice(6));
    let l = blocks.get(nr);
    if (!l) blocks.set(nr, (l = a.label()));
    return l;
  };
  const list = runs(f, first);
  const build = (i: number, j: number): Label => {
    if (i === j) return target((list[i] as Run).key);
    const here = a.label();
    a.place(here);
    const mid = Math.floor((i + j + 1) / 2);
    // Emitted before both subtrees; its targets are set once they are built.
    const jump = a.cond(JGE_K, (list[mid] as Run).start, here, here);
    jump.jf = build(i, mid - 1);
    jump.jt = build(mid, j);
    return here;
  };
  const root = build(0, list.length - 1);
  if (list.length === 1) a.jump(root);
  for (const [nr, label] of blocks) {
    a.place(label);
    ruleBlock(a, f.decisions.get(nr) as SyscallDecision, f.abi.narrowArgs);
  }
}

export function compileFilter(filter: ResolvedFilter): Buffer {
  const a = new Assembler();
  const shared = new Map<number, Label>();
  const returns = (verdict: number): Label => {
    let l = shared.get(verdict);
    if (!l) shared.set(verdict, (l = a.label()));
    return l;
  };
  const byArch = new Map<number, AbiFilter[]>();
  for (const f of filter.abis) byArch.set(f.abi.auditArch, [...(byArch.get(f.abi.auditArch) ?? []), f]);
  const sections = [...byArch.entries()].map(([arch, fs]) => ({ arch, fs, label: a.label() }));
  a.load(OFFSET_ARCH);
  for (const s of sections) {
    const next = a.label();
    a.cond(JEQ_K, s.arch, s.label, next);
    a.place(next);
  }
  a.ret(filter.badArch);
  for (const s of sections) {
    a.place(s.label);
    a.load(OFFSET_NR);
    const x32 = s.fs.find((f) => f.abi.name === 'x32');
    const native = s.fs.find((f) => f.abi.name !== 'x32') as AbiFilter;
    if (s.arch === 0xc000003e) {
      // The x32 ABI shares x86_64's audit arch; its numbers carry the X32 bit.
      const x32Label = x32 ? a.label() : returns(filter.badArch);
      const nativeLabel = a.label();
      a.cond(JGE_K, X32_BIT, x32Label, nativeLabel);
      a.place(nativeLabel);
      abiSection(a, native, 0, returns);
      if (x32) {
        a.place(x32Label);
        abiSection(a, x32, X32_BIT, returns);
      }
    } else {
      abiSection(a, native, 0, returns);
    }
  }
  for (const [verdict, label] of shared) {
    a.place(label);
    a.ret(verdict);
  }
  return a.assemble();
}
