//! The `bpf(2)` calls kiln needs, and nothing else: load a program from instructions,
//! attach it to a cgroup. Generic over the program type; the programs themselves are built
//! elsewhere from data: the device allow-list ([`crate::devices`]) and the build network's
//! address policy ([`crate::netpolicy`]).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

/// `BPF_PROG_LOAD`.
const PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_ATTACH`.
const PROG_ATTACH: libc::c_long = 8;

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub(crate) const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE`.
pub(crate) const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: other programs attached to the cgroup (or its parents) keep
/// running; the kernel denies if any of them denies.
pub(crate) const F_ALLOW_MULTI: u32 = 2;

/// One instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const LDX: u8 = 0x01;
const ALU64: u8 = 0x07;
const JMP: u8 = 0x05;
const W: u8 = 0x00;
const MEM: u8 = 0x60;
const K: u8 = 0x00;
const X: u8 = 0x08;
const AND: u8 = 0x50;
const RSH: u8 = 0x70;
const MOV: u8 = 0xb0;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
const EXIT: u8 = 0x90;

impl Insn {
    /// Any instruction, from its opcode byte and fields.
    pub(crate) const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0xf) | ((src & 0xf) << 4),
            off,
            imm,
        }
    }
    /// `dst = *(u32 *)(src + off)`.
    pub(crate) const fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(LDX | MEM | W, dst, src, off, 0)
    }
    /// `dst = imm`.
    pub(crate) const fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU64 | MOV | K, dst, 0, 0, imm)
    }
    /// `dst = src`.
    pub(crate) const fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(ALU64 | MOV | X, dst, src, 0, 0)
    }
    /// `dst &= imm`.
    pub(crate) const fn and_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU64 | AND | K, dst, 0, 0, imm)
    }
    /// `dst >>= imm`.
    pub(crate) const fn rsh_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU64 | RSH | K, dst, 0, 0, imm)
    }
    /// `if dst == imm goto +off`.
    pub(crate) const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(JMP | JEQ | K, dst, 0, off, imm)
    }
    /// `if dst != imm goto +off`.
    pub(crate) const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(JMP | JNE | K, dst, 0, off, imm)
    }
    /// `return r0`.
    pub(crate) const fn exit() -> Insn {
        Insn::new(JMP | EXIT, 0, 0, 0, 0)
    }
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of `union bpf_attr` of the
    // size passed; the kernel reads at most that many bytes (and zero-fills the rest) and
    // copies everything it needs before returning. Pointers inside it (instructions,
    // license, log buffer) are kept alive by the callers for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Why loading failed, with the end of the verifier's log when it gave one.
#[derive(Debug)]
pub(crate) struct LoadError {
    pub(crate) source: io::Error,
    pub(crate) log: String,
}

/// The programs use no kernel helper, so the license only names the project's.
const LICENSE: &std::ffi::CStr = c"Apache-2.0";

fn load_with_log(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
    log: Option<&mut [u8]>,
) -> io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        expected_attach_type,
        ..Default::default()
    };
    for (d, s) in attr.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    let fd = bpf(PROG_LOAD, &mut attr)?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: on success BPF_PROG_LOAD returns a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Load a program (`name`: up to 15 bytes, shown by bpftool); its fd keeps it alive. On
/// failure it is loaded again with the verifier's log, whose last lines go in the error.
pub(crate) fn load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
) -> Result<OwnedFd, LoadError> {
    load_with_log(prog_type, expected_attach_type, insns, name, None).map_err(|source| {
        let mut buf = vec![0u8; 64 * 1024];
        let _ = load_with_log(prog_type, expected_attach_type, insns, name, Some(&mut buf));
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        let log = String::from_utf8_lossy(&buf[..end]);
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        LoadError {
            source,
            log: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        }
    })
}

/// Attach `prog` to the cgroup directory `cgroup` (an fd opened on it) for `attach_type`.
/// The attachment lasts as long as the cgroup.
pub(crate) fn attach(
    cgroup: impl AsFd,
    prog: impl AsFd,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: prog.as_fd().as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
    };
    bpf(PROG_ATTACH, &mut attr).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_as_the_kernel_expects() {
        // r2 = *(u32 *)(r1 + 4): 0x61, dst 2, src 1.
        let i = Insn::load_u32(2, 1, 4);
        assert_eq!((i.code, i.regs, i.off, i.imm), (0x61, 0x12, 4, 0));
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(Insn::exit().code, 0x95);
        assert_eq!(Insn::jne_imm(3, 2, 5).code, 0x55);
        assert_eq!(Insn::mov_imm(0, 1).code, 0xb7);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
    }

    #[test]
    fn a_malformed_program_is_refused_by_the_verifier() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        // No exit: the verifier must refuse it, not crash.
        let e = load(
            PROG_TYPE_CGROUP_DEVICE,
            ATTACH_CGROUP_DEVICE,
            &[Insn::mov_imm(0, 1)],
            "kiln_test",
        )
        .expect_err("a program without exit");
        let errno = e.source.raw_os_error();
        assert!(
            errno == Some(libc::EINVAL) || errno == Some(libc::EACCES),
            "{e:?}"
        );
        assert!(!e.log.is_empty(), "the verifier's log is kept");
    }
}
