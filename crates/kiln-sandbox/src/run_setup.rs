//! What both backends set up around one run, outside the sandbox: the rootfs opened, its
//! mount points, the /etc files on a private tmpfs, the inline script's name checked.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::mount_points::MountPoints;
use crate::preflight::CheckedRequest;
use crate::SandboxError;

/// The rootfs directory, opened to resolve mount points inside it.
pub(crate) fn open_rootfs(rootfs: &Path) -> Result<OwnedFd, SandboxError> {
    rustix::fs::open(
        rootfs,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        SandboxError::io(
            "opening rootfs",
            rootfs,
            e.into(),
            "give an existing directory",
        )
    })
}

/// Mount points: /proc, /dev, /sys and the three /etc files, then one per `(target, dir)`
/// (targets relative to the rootfs); created empty if missing, removed after the run.
pub(crate) fn mount_points(
    root_fd: &OwnedFd,
    rootfs: &Path,
    targets: impl IntoIterator<Item = (String, bool)>,
) -> Result<MountPoints, SandboxError> {
    let mut mount_points = MountPoints::default();
    for d in ["proc", "dev", "sys"] {
        mount_points.ensure(root_fd, rootfs, d, true)?;
    }
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        mount_points.ensure(root_fd, rootfs, f, false)?;
    }
    for (target, dir) in targets {
        mount_points.ensure(root_fd, rootfs, &target, dir)?;
    }
    Ok(mount_points)
}

/// Files bound over /etc/{hosts,resolv.conf,hostname}, written in `dir` (a private tmpfs,
/// never inside the rootfs): their names and paths.
pub(crate) fn write_etc_files(
    dir: &Path,
    req: &CheckedRequest<'_>,
) -> Result<Vec<(&'static str, PathBuf)>, SandboxError> {
    let mut files = Vec::new();
    for (name, content) in [
        ("hosts", req.request.hosts.as_str()),
        ("resolv.conf", req.request.resolv_conf.as_str()),
        ("hostname", &format!("{}\n", req.request.process.hostname)),
    ] {
        let path = dir.join(name);
        write_file(&path, content.as_bytes())?;
        files.push((name, path));
    }
    Ok(files)
}

pub(crate) fn write_file(path: &Path, content: &[u8]) -> Result<(), SandboxError> {
    std::fs::write(path, content).map_err(|e| SandboxError::io("writing", path, e, "check TMPDIR"))
}

/// An inline script's name must be one path component.
pub(crate) fn check_inline_script_name(name: &str) -> Result<(), SandboxError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(SandboxError::Invalid(format!(
            "inline script name {name:?} must be a single file name"
        )));
    }
    Ok(())
}
