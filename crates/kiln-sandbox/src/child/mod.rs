//! Code that runs in the forked children, between `fork` and `execve`.
//!
//! Everything here is async-signal-safe in practice: no allocation, no locks,
//! only raw syscalls (rustix's `linux_raw` backend and [`crate::sys`]) on data
//! prepared by the parent in a [`Plan`]. Failures are written to the error
//! pipe as a fixed-size [`Fail`] record and the child `_exit`s.
//!
//! Process tree:
//! - `stage1` (host pid namespace, invisible from the step): joins the
//!   cgroups, unshares the namespaces, makes mount propagation private,
//!   brings `lo` up, in `Private` network mode waits until the parent's
//!   slirp4netns has configured `tap0` ([`NetSync`]), forks `stage2`, waits
//!   for it and writes its exit status on the status pipe. Only stage1 holds
//!   the status pipe: no process of the step can reach it.
//! - `stage2` (pid 1 in the new pid namespace): closes every fd but stdio and
//!   the error pipe, builds the root filesystem, `pivot_root`s, masks paths,
//!   drops privileges, loads seccomp and `execve`s the command, which becomes
//!   pid 1 itself (as under runc and BuildKit: no init of kiln's stays behind,
//!   so nothing of kiln's memory, argv or environment is visible in the step).
//!   When it exits the kernel kills whatever is left in the pid namespace.
//!   A failing `execve` is reported on the error pipe (close-on-exec, so a
//!   running command never holds it).

mod binds;
mod dev;
mod fail;
mod masks;
mod privileges;
mod stage1;
mod stage2;

use std::ffi::{c_char, CStr, CString};
use std::os::fd::{AsFd, OwnedFd, RawFd};

pub(crate) use fail::{Fail, Step, FAIL_LEN, STATUS_LEN};
pub(crate) use stage1::stage1;

/// A bind mount of a host temp file onto a file in the rootfs.
#[derive(Debug)]
pub(crate) struct EtcBind {
    /// Absolute path of the temp file (outside the rootfs). A path, not an
    /// fd: an fd opened before `unshare` belongs to the host's mount
    /// namespace and cannot be bind-mounted from.
    pub source: CString,
    /// Path relative to the rootfs, like `etc/hosts`.
    pub target: CString,
}

/// A `RUN --mount`: a bind of a host path or a tmpfs on a path in the rootfs.
#[derive(Debug)]
pub(crate) struct ExtraMount {
    /// Host path to bind (as [`EtcBind::source`]); `None` for a tmpfs.
    pub source: Option<CString>,
    /// Path relative to the rootfs, resolved inside it.
    pub target: CString,
    pub readonly: bool,
    /// tmpfs options (`size=...`).
    pub data: CString,
}

/// The handshake between stage1 and the parent for user-mode networking:
/// stage1 writes a byte on `unshared_w` once its network namespace exists,
/// then waits for a byte on `go_r`, which the parent writes once slirp4netns
/// has configured `tap0` (EOF: the parent gave up).
#[derive(Debug)]
pub(crate) struct NetSync {
    pub unshared_w: OwnedFd,
    pub go_r: OwnedFd,
}

/// Everything the children need, prepared (and allocated) before `fork`.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Our pid, to notice if we died before stage1 set its death signal.
    pub parent_pid: i32,
    pub stdin: OwnedFd,
    pub stdout_w: OwnedFd,
    pub stderr_w: OwnedFd,
    pub error_w: OwnedFd,
    pub status_w: OwnedFd,
    /// v1 `tasks` files, written with "0" by stage1 to join (it was born in the v2 one).
    pub cgroup_procs: Vec<OwnedFd>,
    /// fds stage1 keeps, sorted.
    pub keep: Vec<RawFd>,
    pub unshare_flags: libc::c_int,
    pub loopback: bool,
    /// Set for [`crate::NetworkMode::Private`] with a namespace of the run's own.
    pub net_sync: Option<NetSync>,
    /// A network namespace to join (a duplicate of a [`crate::SharedNetwork`]'s fd).
    pub join_net: Option<OwnedFd>,
    pub rootfs: CString,
    pub etc: Vec<EtcBind>,
    pub mounts: Vec<ExtraMount>,
    /// `/dev/pipes/NAME` path and content (see [`crate::InlineScript`]).
    pub inline_script: Option<(CString, Vec<u8>)>,
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub writable_sysfs: bool,
    pub hostname: Vec<u8>,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<rustix::process::Gid>,
    pub caps: u64,
    pub last_cap: u32,
    pub no_new_privs: bool,
    pub seccomp: Vec<Vec<libc::sock_filter>>,
    /// Exec candidates (PATH lookup done by the parent).
    pub exec_paths: Vec<CString>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub env_ptrs: Vec<*const c_char>,
}

/// `/proc/self/fd/N` as a C string in `buf`, without allocating.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut pos = PREFIX.len();
    for d in digits[..len].iter().rev() {
        buf[pos] = *d;
        pos += 1;
    }
    buf[pos] = 0;
    CStr::from_bytes_until_nul(&buf[..=pos]).unwrap_or(c"/proc/self/fd/")
}

fn report(p: &Plan, fail: Fail) {
    let _ = rustix::io::write(p.error_w.as_fd(), &fail.encode());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_formatted_without_allocation() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(0, &mut buf), c"/proc/self/fd/0");
        assert_eq!(fd_path(1234567, &mut buf), c"/proc/self/fd/1234567");
        assert_eq!(fd_path(i32::MAX, &mut buf), c"/proc/self/fd/2147483647");
    }
}
