//! The step's /proc and /dev: a nodev tmpfs with the host's standard nodes bound in
//! (read-only mounts of the host's own nodes), the usual submounts and links, and the
//! inline script at /dev/pipes.

use std::ffi::CStr;
use std::os::fd::OwnedFd;

use rustix::fs::{self, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags};

use super::fail::{at, step, Step, R};
use super::Plan;
use crate::dev_tables::{dev_mounts, DEV_LINKS, DEV_NODES};
use crate::sys;

pub(super) type StandardNodes = [Option<OwnedFd>; DEV_NODES.len()];

/// /proc, then the /dev tmpfs with the standard nodes, submounts, links and the inline
/// script. Runs after `pivot_root`: every path resolves inside the new root.
pub(super) fn mount_proc_and_dev(p: &Plan, nodes: StandardNodes) -> R {
    mount::mount(
        c"proc",
        c"/proc",
        c"proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(step(Step::MountProc))?;

    mount::mount(
        c"tmpfs",
        c"/dev",
        c"tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::STRICTATIME,
        Some(c"mode=755,size=65536k"),
    )
    .map_err(step(Step::MountDev))?;
    bind_standard_nodes(nodes)?;
    for (i, (source, target, fstype, flags, data, mode)) in dev_mounts().into_iter().enumerate() {
        let f = at(Step::DevMount, i as u32);
        fs::mkdirat(CWD, target, Mode::from_raw_mode(mode)).map_err(&f)?;
        mount::mount(source, target, fstype, flags, data).map_err(&f)?;
    }
    for (i, (to, link)) in DEV_LINKS.iter().enumerate() {
        fs::symlinkat(*to, CWD, *link).map_err(at(Step::DevLink, i as u32))?;
    }
    if let Some((path, data)) = &p.inline_script {
        write_inline_script(path, data).map_err(step(Step::InlineScript))?;
    }
    Ok(())
}

/// `/dev/pipes/NAME` with the script (0755), then `/dev/pipes` made read-only.
fn write_inline_script(path: &CStr, data: &[u8]) -> Result<(), Errno> {
    fs::mkdirat(CWD, c"/dev/pipes", Mode::from_raw_mode(0o755))?;
    let fd = fs::openat(
        CWD,
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o755),
    )?;
    let mut rest = data;
    while !rest.is_empty() {
        match rustix::io::write(&fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    drop(fd);
    mount::mount_bind(c"/dev/pipes", c"/dev/pipes")?;
    mount::mount_remount(
        c"/dev/pipes",
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        c"",
    )
}

/// Detached copies (`open_tree(OPEN_TREE_CLONE)`) of the host's standard nodes, each
/// checked to be the character device it should be.
pub(super) fn clone_standard_nodes() -> R<StandardNodes> {
    let mut nodes: StandardNodes = Default::default();
    for (i, (path, major, minor)) in DEV_NODES.iter().enumerate() {
        let f = at(Step::DevNode, i as u32);
        let fd = mount::open_tree(
            CWD,
            *path,
            mount::OpenTreeFlags::OPEN_TREE_CLONE | mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .map_err(&f)?;
        let st = fs::fstat(&fd).map_err(&f)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
            || st.st_rdev != fs::makedev(*major, *minor)
        {
            return Err(f(Errno::NODEV));
        }
        // Read-only: reading and writing the device still work, but a chmod, chown or
        // utimes of the host's own inode fails (EROFS).
        sys::set_mount_attrs(
            &fd,
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        )
        .map_err(&f)?;
        nodes[i] = Some(fd);
    }
    Ok(nodes)
}

/// An empty file for each standard node on the nodev /dev, the host's node mounted on it.
fn bind_standard_nodes(nodes: StandardNodes) -> R {
    for (i, ((path, _, _), node)) in DEV_NODES.iter().zip(nodes).enumerate() {
        let f = at(Step::DevNode, i as u32);
        let node = node.ok_or_else(|| f(Errno::BADF))?;
        let file = fs::openat(
            CWD,
            *path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(&f)?;
        drop(file);
        mount::move_mount(
            &node,
            c"",
            CWD,
            *path,
            mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(&f)?;
    }
    Ok(())
}
