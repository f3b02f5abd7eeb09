//! Binds into the rootfs before `pivot_root`: the /etc files and the run's mounts, each
//! target resolved inside the root (symlinks cannot leave it) and mounted through
//! `/proc/self/fd`.

use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags};

use super::fail::{at, Step, R};
use super::{fd_path, EtcBind, ExtraMount};

/// /etc/hosts, /etc/resolv.conf, /etc/hostname: resolve the targets inside
/// the rootfs (symlinks cannot escape it), then bind through /proc/self/fd.
pub(super) fn bind_etc_files(root: &OwnedFd, etc: &[EtcBind]) -> R {
    for (i, e) in etc.iter().enumerate() {
        let i = i as u32;
        let target = fs::openat2(
            root,
            e.target.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(at(Step::EtcTarget, i))?;
        let mut tbuf = [0u8; 32];
        mount::mount_bind(e.source.as_c_str(), fd_path(target.as_raw_fd(), &mut tbuf))
            .map_err(at(Step::EtcBind, i))?;
    }
    Ok(())
}

/// Mount `m` on its target, resolved inside the root (symlinks cannot leave it).
pub(super) fn extra_mount(root: &OwnedFd, m: &ExtraMount) -> Result<(), Errno> {
    let open_target = || {
        fs::openat2(
            root,
            m.target.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    let target = open_target()?;
    let mut tbuf = [0u8; 32];
    let flags = MountFlags::NOSUID | MountFlags::NODEV;
    match &m.source {
        Some(source) => {
            mount::mount_bind(source.as_c_str(), fd_path(target.as_raw_fd(), &mut tbuf))?;
            // The new mount is found by resolving the target again (the old fd
            // still names the directory below it).
            let mounted = open_target()?;
            let mut mbuf = [0u8; 32];
            let ro = if m.readonly {
                MountFlags::RDONLY
            } else {
                MountFlags::empty()
            };
            mount::mount_remount(
                fd_path(mounted.as_raw_fd(), &mut mbuf),
                MountFlags::BIND | flags | ro,
                c"",
            )
        }
        None => mount::mount(
            c"tmpfs",
            fd_path(target.as_raw_fd(), &mut tbuf),
            c"tmpfs",
            flags,
            Some(m.data.as_c_str()),
        ),
    }
}
