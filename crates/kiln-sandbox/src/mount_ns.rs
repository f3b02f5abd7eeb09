//! A private mount namespace for the whole kiln process.
//!
//! The overlays a build mounts for RUN steps live in kiln's own mount
//! namespace, not the host's: when kiln ends, even by SIGKILL, the kernel
//! drops them, so a killed build leaves no mount behind in the store's temp
//! directory (and `kiln prune` can remove that directory). Mounts made on the
//! host later still show up inside (propagation is slave, not private).

use rustix::mount::{mount_change, MountPropagationFlags};

use crate::error::SandboxError;
use crate::sys;

/// Moves this process into a new mount namespace whose mounts do not
/// propagate back to the host's. Call it before any thread is started (a
/// namespace change affects only the calling thread). Returns `Ok(false)`
/// without doing anything when not running as root (no mounts are made then).
pub fn private_mounts() -> Result<bool, SandboxError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(false);
    }
    sys::unshare(libc::CLONE_NEWNS).map_err(|e| SandboxError::Syscall {
        op: "unshare(CLONE_NEWNS) for kiln's own mount namespace",
        source: e.into(),
    })?;
    mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| SandboxError::Syscall {
        op: "making / a slave mount in kiln's mount namespace",
        source: e.into(),
    })?;
    Ok(true)
}
