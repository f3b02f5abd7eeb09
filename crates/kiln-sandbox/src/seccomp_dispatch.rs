//! A seccomp program that finds a system call's rules by binary search on its number.
//!
//! `seccompiler` emits one linear chain: every system call is compared with each listed
//! number in turn, about 600 instructions before an unlisted one is refused with Docker's
//! profile. The kernel pays that twice: on every system call the step makes, and when the
//! filter is loaded, where it runs the program for every system call number to find those
//! it can allow without running the filter (`seccomp_cache_prepare`). Loading Docker's
//! profile cost 1.1 ms on the host and 7 ms in a guest under emulation, once per RUN step.
//!
//! This module keeps seccompiler's code for the rules of each system call (a block that
//! starts by checking the number and ends in a return) and puts a binary search in front:
//! a handful of comparisons reach a leaf of a few numbers, where a number allowed without
//! conditions returns at once and one with conditions jumps to its block. libseccomp does
//! the same at its highest optimization level; seccompiler has no such option.

use libc::sock_filter;

/// The most numbers a leaf compares one after the other.
const LEAF: usize = 8;
/// The kernel's limit on a classic BPF program's length (`BPF_MAXINSNS`).
pub(crate) const MAX_LEN: usize = 4096;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// One listed system call: its number, and the block of its rules when it has
/// conditions (`None`: the match action without conditions).
pub(crate) struct Syscall {
    pub nr: u32,
    pub block: Option<Vec<sock_filter>>,
}

/// The returns of a program: on a listed system call whose rules match, and otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Returns {
    pub matched: u32,
    pub mismatch: u32,
}

fn stmt(code: u16, k: u32) -> sock_filter {
    jump(code, k, 0, 0)
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The program: `head` (the architecture check, then the system call number loaded into
/// the accumulator), the search, the blocks, and a final return of `mismatch`. `syscalls`
/// must be sorted by number, without repeats. `None` if it would be too long to load.
pub(crate) fn assemble(
    head: &[sock_filter],
    syscalls: &[Syscall],
    returns: Returns,
) -> Option<Vec<sock_filter>> {
    let search = search(syscalls, returns);
    let mut program = head.to_vec();
    // Where each block will start: after the search and every block before it.
    let mut at = head.len() + search.len();
    let mut starts = Vec::with_capacity(syscalls.len());
    for s in syscalls {
        starts.push(at);
        at += s.block.as_ref().map_or(0, Vec::len);
    }
    for (i, insn) in search.into_iter().enumerate() {
        program.push(match insn {
            Insn::Plain(f) => f,
            Insn::ToBlock(s) => {
                let here = head.len() + i;
                stmt(JA, u32::try_from(starts[s] - here - 1).ok()?)
            }
        });
    }
    for s in syscalls {
        program.extend(s.block.iter().flatten().copied());
    }
    program.push(stmt(RET_K, returns.mismatch));
    (program.len() <= MAX_LEN).then_some(program)
}

/// An instruction of the search; jumps into blocks are resolved once the layout is known.
enum Insn {
    Plain(sock_filter),
    /// An unconditional jump to the block of `syscalls[i]`.
    ToBlock(usize),
}

/// The binary search over `syscalls`: `A >= middle` jumps over the lower half.
fn search(syscalls: &[Syscall], returns: Returns) -> Vec<Insn> {
    search_range(syscalls, 0, syscalls.len(), returns)
}

fn search_range(syscalls: &[Syscall], lo: usize, hi: usize, returns: Returns) -> Vec<Insn> {
    if hi - lo <= LEAF {
        return leaf(syscalls, lo, hi, returns);
    }
    let mid = lo + (hi - lo) / 2;
    let lower = search_range(syscalls, lo, mid, returns);
    let upper = search_range(syscalls, mid, hi, returns);
    let mut out = Vec::with_capacity(2 + lower.len() + upper.len());
    out.push(Insn::Plain(jump(JGE_K, syscalls[mid].nr, 0, 1)));
    out.push(Insn::Plain(stmt(JA, lower.len() as u32)));
    out.extend(lower);
    out.extend(upper);
    out
}

/// A leaf: each number compared in turn; then the return of `mismatch`, the return of
/// `matched`, and one jump per number with a block. Every offset stays below 2 * LEAF + 2,
/// within the 255 a conditional jump can reach.
fn leaf(syscalls: &[Syscall], lo: usize, hi: usize, returns: Returns) -> Vec<Insn> {
    let n = hi - lo;
    let mut out = Vec::with_capacity(2 * n + 2);
    let mut blocks = 0;
    for (i, s) in syscalls[lo..hi].iter().enumerate() {
        // Offsets from the instruction after compare i.
        let to_matched = n - i;
        let target = match s.block {
            None => to_matched,
            Some(_) => {
                blocks += 1;
                to_matched + blocks
            }
        };
        out.push(Insn::Plain(jump(JEQ_K, s.nr, target as u8, 0)));
    }
    out.push(Insn::Plain(stmt(RET_K, returns.mismatch)));
    out.push(Insn::Plain(stmt(RET_K, returns.matched)));
    for (i, s) in syscalls[lo..hi].iter().enumerate() {
        if s.block.is_some() {
            out.push(Insn::ToBlock(lo + i));
        }
    }
    out
}

/// The block of one system call's rules in a one-call program of seccompiler's linear
/// form: `head` (its architecture check and number load), the block (starting with the
/// comparison of `nr`, ending in a return), a final return. `None` if the program is not of
/// that form.
pub(crate) fn block_of(
    program: &[sock_filter],
    head_len: usize,
    nr: u32,
) -> Option<Vec<sock_filter>> {
    let block = program.get(head_len..program.len().checked_sub(1)?)?;
    let (first, last) = (block.first()?, block.last()?);
    (first.code == JEQ_K && first.k == nr && first.jt == 0 && last.code == RET_K)
        .then(|| block.to_vec())
}

/// The head of a one-call program of seccompiler's linear form, given the program with no
/// rules (its architecture check, then a return): that check and the number load.
pub(crate) fn head_of(program: &[sock_filter], empty: &[sock_filter]) -> Option<Vec<sock_filter>> {
    let arch = empty.get(..empty.len().checked_sub(1)?)?;
    let head = program.get(..arch.len() + 1)?;
    let same =
        |a: &sock_filter, b: &sock_filter| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k);
    let load = &head[arch.len()];
    (arch.iter().zip(head).all(|(a, b)| same(a, b)) && load.code == LD_W_ABS && load.k == 0)
        .then(|| head.to_vec())
}

/// A classic BPF interpreter for the instructions seccomp programs here use, to compare
/// programs' verdicts in tests.
#[cfg(test)]
pub(crate) fn run(program: &[sock_filter], data: &[u8; 64]) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let f = program[pc];
        pc += 1;
        let k = f.k;
        let cond = |taken: bool| if taken { f.jt as usize } else { f.jf as usize };
        match f.code {
            LD_W_ABS => {
                let at = k as usize;
                a = u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            }
            RET_K => return k,
            JA => pc += k as usize,
            JEQ_K => pc += cond(a == k),
            JGE_K => pc += cond(a >= k),
            c if c == (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16 => pc += cond(a > k),
            c if c == (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16 => {
                pc += cond(a & k != 0)
            }
            c if c == (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16 => a &= k,
            other => panic!("instruction {other:#x} not known to the test interpreter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow_all_but(nrs: &[u32]) -> Vec<Syscall> {
        nrs.iter().map(|&nr| Syscall { nr, block: None }).collect()
    }

    fn data(nr: u32) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&nr.to_ne_bytes());
        d
    }

    #[test]
    fn the_search_finds_every_listed_number_and_only_those() {
        let returns = Returns {
            matched: 1,
            mismatch: 2,
        };
        let head = [stmt(LD_W_ABS, 0)];
        for n in [0usize, 1, 7, 8, 9, 40, 333] {
            let nrs: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
            let program = assemble(&head, &allow_all_but(&nrs), returns).expect("fits");
            for nr in 0..(n as u32 * 3 + 5) {
                let want = if nrs.contains(&nr) { 1 } else { 2 };
                assert_eq!(run(&program, &data(nr)), want, "{n} numbers, nr {nr}");
            }
        }
    }

    #[test]
    fn a_program_past_the_kernel_limit_is_not_made() {
        let nrs: Vec<u32> = (0..3000).collect();
        let returns = Returns {
            matched: 1,
            mismatch: 2,
        };
        assert!(assemble(&[stmt(LD_W_ABS, 0)], &allow_all_but(&nrs), returns).is_none());
    }
}
