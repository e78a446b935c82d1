/**
 * Runs a compiled seccomp program (classic BPF) on a system call, as the kernel would, so the
 * tests can check the filter of every ABI — aarch64 and arm included — on any machine. Only the
 * instructions a seccomp filter may use are known; anything else is an error.
 */
import { endianness } from 'node:os';

export interface SyscallInput {
  arch: number;
  nr: number;
  args?: bigint[];
}

function dataWord(input: SyscallInput, offset: number): number {
  if (offset === 0) return input.nr >>> 0;
  if (offset === 4) return input.arch >>> 0;
  if (offset >= 16 && offset < 64 && offset % 4 === 0) {
    const arg = input.args?.[Math.floor((offset - 16) / 8)] ?? 0n;
    const high = ((offset - 16) % 8 === 4) !== (endianness() === 'BE');
    return Number(high ? (arg >> 32n) & 0xffffffffn : arg & 0xffffffffn);
  }
  throw new Error(`load from seccomp_data offset ${offset}`);
}

/** The filter's return value for the call. */
export function runSeccomp(program: Buffer, input: SyscallInput): number {
  const big = endianness() === 'BE';
  let a = 0;
  for (let pc = 0, steps = 0; steps < 100_000; steps++) {
    if (pc * 8 >= program.length) throw new Error(`ran off the end at ${pc}`);
    const at = pc * 8;
    const code = big ? program.readUInt16BE(at) : program.readUInt16LE(at);
    const jt = program.readUInt8(at + 2);
    const jf = program.readUInt8(at + 3);
    const k = big ? program.readUInt32BE(at + 4) : program.readUInt32LE(at + 4);
    pc++;
    switch (code) {
      case 0x20: a = dataWord(input, k); break; // ld [k]
      case 0x54: a = (a & k) >>> 0; break; // and #k
      case 0x05: pc += k; break; // ja
      case 0x15: pc += a === k ? jt : jf; break; // jeq
      case 0x25: pc += a > k ? jt : jf; break; // jgt
      case 0x35: pc += a >= k ? jt : jf; break; // jge
      case 0x45: pc += (a & k) !== 0 ? jt : jf; break; // jset
      case 0x06: return k; // ret #k
      default: throw new Error(`unexpected instruction 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error('no return after 100000 steps');
}
