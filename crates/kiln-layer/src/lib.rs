//! kiln's layer plumbing.
//!
//! * [`root`]: [`Root`], filesystem operations confined to one directory
//!   (`openat2(RESOLVE_IN_ROOT)`), for building root filesystems from
//!   untrusted input.
//! * [`tar_write`]: deterministic OCI layer tar writer.
//! * [`extract`]: extraction of hostile layer tars into a [`Root`], reading them with
//!   kiln-oci's hardened tar reader ([`kiln_oci::tar`], shared with `kiln load`).
//! * [`snapshot`]: overlayfs and vfs snapshots for RUN steps, and their
//!   canonical diffs to layers.
//!
//! Linux only (openat2 needs Linux 5.6+); `/proc` must be mounted.

pub mod extract;
pub mod root;
pub mod snapshot;
pub mod tar_write;

pub use extract::{extract, ExtractOptions, ExtractStats, WhiteoutMode};
pub use kiln_oci::tar::is_tar_header;
pub use root::{major, makedev, minor, Kind, Metadata, Root};
pub use tar_write::{
    copy_layer, write_paths, write_tree, EntryKind, EntryMeta, LayerWriter, TarOptions,
};

/// Errors of [`extract`].
pub use extract::Error as ExtractError;
/// Errors of [`root`].
pub use root::Error as RootError;
/// Errors of [`tar_write`].
pub use tar_write::Error as WriteError;
