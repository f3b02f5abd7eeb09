//! A small interpreter of the eBPF the policy's programs use, so tests check the
//! generators against the policy's own answers without the kernel. A load from r1 reads
//! the context's bytes; a load from any other register reads the packet at that
//! register's value (an egress program's `data` is 0 and `data_end` the packet's length
//! when the test's context says so).

use super::program::{
    ADD64_K, AND32_K, CTX, EXIT, JA, JEQ32_K, JGT64_X, JNE32_K, LDX_MEM_B, LDX_MEM_W, MOV32_X,
    MOV64_K, MOV64_X, RSH32_K,
};
use crate::bpf::Insn;

/// Run `prog` on `ctx` (and `packet`); its return value.
pub(super) fn run(prog: &[Insn], ctx: &[u8], packet: &[u8]) -> u64 {
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    let jump = |pc: usize, off: i16| (pc as i64 + i64::from(off)) as usize;
    let word = |bytes: &[u8], at: usize| {
        u64::from(u32::from_ne_bytes(
            bytes[at..at + 4].try_into().expect("in bounds"),
        ))
    };
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let k = u32::from_ne_bytes(i.imm.to_ne_bytes());
        let at = |base: u64| (base as i64 + i64::from(i.off)) as usize;
        pc += 1;
        match i.code {
            LDX_MEM_W if src == CTX as usize => r[dst] = word(ctx, at(0)),
            LDX_MEM_W => r[dst] = word(packet, at(r[src])),
            LDX_MEM_B => r[dst] = u64::from(packet[at(r[src])]),
            MOV64_X => r[dst] = r[src],
            ADD64_K => r[dst] = r[dst].wrapping_add(i.imm as i64 as u64),
            RSH32_K => r[dst] = u64::from(r[dst] as u32 >> k),
            MOV64_K => r[dst] = i.imm as i64 as u64,
            MOV32_X => r[dst] = r[src] & 0xffff_ffff,
            AND32_K => r[dst] = u64::from(r[dst] as u32 & k),
            JNE32_K if r[dst] as u32 != k => pc = jump(pc, i.off),
            JEQ32_K if r[dst] as u32 == k => pc = jump(pc, i.off),
            JGT64_X if r[dst] > r[src] => pc = jump(pc, i.off),
            JNE32_K | JEQ32_K | JGT64_X => {}
            JA => pc = jump(pc, i.off),
            EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}
