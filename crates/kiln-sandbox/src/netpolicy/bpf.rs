//! A small, generic wrapper of the bpf(2) syscall: load a program of any type and attach
//! it to a cgroup. Nothing here knows about networks.

// The bpf(2) syscall has no safe wrapper in libc/rustix; every unsafe block is commented.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One eBPF instruction (`struct bpf_insn`), little-endian register packing.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;

/// The prefix of `union bpf_attr` that BPF_PROG_LOAD reads (up to `expected_attach_type`).
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
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

/// The prefix of `union bpf_attr` that BPF_PROG_ATTACH reads.
#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Why loading failed, with the verifier's log when it gave one.
#[derive(Debug)]
pub struct LoadError {
    pub source: io::Error,
    pub log: String,
}

const LICENSE: &[u8] = b"GPL\0";

fn load_with_log(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
    log: Option<&mut [u8]>,
) -> io::Result<OwnedFd> {
    let mut attr = LoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        expected_attach_type,
        ..LoadAttr::default()
    };
    for (d, s) in attr.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    // SAFETY: `attr` is a valid prefix of bpf_attr for BPF_PROG_LOAD; the pointers in it
    // (instructions, license, log buffer) stay valid for the call, and the size passed is
    // the size of `attr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const LoadAttr,
            std::mem::size_of::<LoadAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Load a program; on failure load it again with the verifier's log for the error.
pub fn load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
) -> Result<OwnedFd, LoadError> {
    match load_with_log(prog_type, expected_attach_type, insns, name, None) {
        Ok(fd) => Ok(fd),
        Err(source) => {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = load_with_log(prog_type, expected_attach_type, insns, name, Some(&mut buf));
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            let log = String::from_utf8_lossy(&buf[..end]);
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            Err(LoadError {
                source,
                log: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            })
        }
    }
}

/// Attach `prog` to the cgroup open at `cgroup` for `attach_type` (no flags: the only
/// program of that type on this cgroup, not overridable by descendants).
pub fn attach(prog: &OwnedFd, cgroup: &OwnedFd, attach_type: u32) -> io::Result<()> {
    let fd = |f: &OwnedFd| u32::try_from(f.as_raw_fd()).unwrap_or(u32::MAX);
    let attr = AttachAttr {
        target_fd: fd(cgroup),
        attach_bpf_fd: fd(prog),
        attach_type,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is a valid prefix of bpf_attr for BPF_PROG_ATTACH holding two open fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const AttachAttr,
            std::mem::size_of::<AttachAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
