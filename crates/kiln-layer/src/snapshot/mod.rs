//! Snapshots for RUN steps: a writable view of an image's layers, and the
//! diff of what a step changed, as a deterministic layer tar.
//!
//! Two interchangeable implementations:
//!
//! * [`overlay`]: kernel overlayfs. [`OverlaySnapshot::mount`] stacks the
//!   unpacked layers (extracted with
//!   [`WhiteoutMode::Overlay`](crate::WhiteoutMode::Overlay)) under an upper
//!   directory; [`diff_overlay_upper`] turns the upper directory into a layer.
//! * [`vfs`]: plain copies, for hosts without overlayfs.
//!   [`VfsSnapshot::prepare`] merges the layers into a pristine copy and a
//!   working copy; [`diff_trees`] compares the two.
//!
//! Both diffs compute the same **canonical** change set, so the same
//! changes give byte-identical layers whichever snapshotter ran the step:
//!
//! * A non-directory is emitted when it is new, changed type, or differs in
//!   mode, owner, mtime (seconds and nanoseconds), size, device number,
//!   symlink target or xattrs. Files with equal metadata are assumed
//!   unchanged (as docker does); with overlayfs this also drops files that
//!   were merely copied up (opened for writing, nothing changed).
//! * A directory is emitted when it is new or differs in mode, owner, mtime
//!   or xattrs, and as the parent of anything emitted below it; the
//!   after-state metadata is used in both cases.
//! * A path that existed before and is gone is one whiteout `.wh.<name>`
//!   (a deleted directory: one whiteout, nothing for its children).
//! * A directory (other than the root) that exists before and after, had
//!   at least two children before and kept **none** of their names gets one
//!   opaque marker `.wh..wh..opq` instead of a whiteout per child. Whether overlayfs marked it opaque
//!   (`rm -rf d; mkdir d`) or wrote one whiteout per child (`rm d/*`) does
//!   not matter: the marker follows from before/after content only.
//! * A type change (directory replaced by a file or the reverse) emits the
//!   new object (and the whole new directory tree); extraction replaces.
//! * Hard links: when an emitted non-directory has more than one link, every
//!   other path of the after-tree with the same inode is emitted too, the
//!   later ones as hard links to the first in tar order.
//! * `trusted.overlay.*` and `security.selinux` xattrs are never written.
//! * Entries are written sorted by tar name components; whiteouts sort by
//!   their `.wh.` name among their siblings.
//!
//! Known divergence: hard links that already existed in a lower layer are
//! split by overlayfs when one of them is copied up (without the `index`
//! feature), while the vfs copy keeps them linked.

pub mod diff;
pub mod overlay;
pub mod vfs;

use std::io;

use kiln_oci::ErrorKind;
use std::path::PathBuf;

pub use diff::{diff_overlay_upper, diff_trees};
pub use overlay::{mount_with, overlay_supported, MountApi, OverlaySnapshot, MAX_LOWERS};
pub use vfs::{merge_lowers, VfsSnapshot};

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Snapshot errors; each names the path involved and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Mounting an overlay failed.
    #[error("cannot mount overlay on {target}: {what}: {source}; {hint}", target = .target.display(), hint = mount_hint(.source))]
    Mount {
        /// Mount point.
        target: PathBuf,
        /// Which step failed, with the kernel's message if any.
        what: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Too many lower layers.
    #[error("cannot mount overlay on {target}: {count} lower layers, more than overlayfs' limit of {MAX_LOWERS}; squash the base image")]
    TooManyLowers {
        /// Mount point.
        target: PathBuf,
        /// Number of lowers given.
        count: usize,
    },
    /// Unmounting failed.
    #[error("cannot unmount overlay {target}: {source}; check `grep {target} /proc/mounts` and unmount it by hand", target = .target.display())]
    Unmount {
        /// Mount point.
        target: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The upper directory uses an overlayfs feature the diff does not read.
    #[error("overlay upper directory {dir}: {path} is {what}; mount the overlay with OverlaySnapshot (redirect_dir=off, metacopy=off)", dir = .dir.display(), path = .path.display())]
    Unsupported {
        /// Host path of the upper directory.
        dir: PathBuf,
        /// Container path of the object.
        path: PathBuf,
        /// What it is.
        what: String,
    },
    /// A filesystem operation failed.
    #[error(transparent)]
    Root(#[from] crate::root::Error),
    /// Writing the diff layer failed.
    #[error(transparent)]
    Write(#[from] crate::tar_write::Error),
}

impl Error {
    /// The class of this failure, for the exit code: mounting or unmounting is
    /// [`ErrorKind::Io`] (the host refused); an image with more layers than overlayfs
    /// stacks is [`ErrorKind::Rejected`]; an upper directory the diff cannot read means
    /// kiln mounted it wrongly, [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Mount { .. } | Error::Unmount { .. } => ErrorKind::Io,
            Error::TooManyLowers { .. } => ErrorKind::Rejected,
            Error::Unsupported { .. } => ErrorKind::Internal,
            Error::Root(e) => e.kind(),
            Error::Write(e) => e.kind(),
        }
    }
}

fn mount_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error().map(rustix::io::Errno::from_raw_os_error) {
        Some(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
            "mounting needs root (CAP_SYS_ADMIN); run as root or use the vfs snapshotter"
        }
        Some(rustix::io::Errno::NODEV) => {
            "overlayfs is not available: load it (modprobe overlay) or use the vfs snapshotter"
        }
        Some(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {
            "a layer, upper, work or target directory is missing"
        }
        Some(rustix::io::Errno::INVAL) => {
            "the kernel rejected the overlay options (see dmesg); upper and work must be on one filesystem and work must be empty"
        }
        _ => "see dmesg for the kernel's reason, or use the vfs snapshotter",
    }
}
