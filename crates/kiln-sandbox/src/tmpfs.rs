//! A private tmpfs on a temp directory, for files that must never reach a disk:
//! secrets, SSH agent sockets, runtime bundles whose config holds the
//! environment.

use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

use crate::SandboxError;

/// A tmpfs (mode 0700, root's) mounted on a fresh temp dir; unmounted and
/// removed on drop.
#[derive(Debug)]
pub struct TmpfsDir {
    dir: tempfile::TempDir,
}

impl TmpfsDir {
    /// A new one under the temp dir, named `prefix...`.
    pub fn new(prefix: &str) -> Result<Self, SandboxError> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| {
                SandboxError::io("creating temp dir", std::env::temp_dir(), e, "check TMPDIR")
            })?;
        rustix::mount::mount(
            c"tmpfs",
            dir.path(),
            c"tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            Some(c"mode=0700,size=16m"),
        )
        .map_err(|e| {
            SandboxError::io(
                "mounting a tmpfs on",
                dir.path(),
                e.into(),
                "kiln needs root (CAP_SYS_ADMIN) to mount",
            )
        })?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TmpfsDir {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.dir.path(), UnmountFlags::DETACH);
    }
}
