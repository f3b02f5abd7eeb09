//! OCI image layouts: write a directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) for a set of stored images, and import one into the
//! store, verifying every blob's digest and size while copying.
//!
//! Names: `index.json` descriptors carry both
//! `org.opencontainers.image.ref.name` and `io.containerd.image.name` set to
//! the full name (`docker.io/library/x:latest`). When reading, the containerd
//! annotation wins; otherwise `ref.name` is used if it looks like a full name
//! (contains `/` or `:`). A bare `ref.name` such as `latest` is only a tag and
//! the image is imported without a name.
//!
//! An index nested in `index.json` (multi-platform image) is resolved to the
//! manifest for `linux/<host arch>`, or its only manifest.

use crate::error_kind::ErrorKind;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestError};
use crate::image::{
    self, descriptor_digest, Descriptor, ImageConfiguration, ImageError, ImageIndex,
    ImageIndexBuilder, ImageManifest, MediaType, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
    MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MAX_METADATA_BYTES,
};
use crate::media;
use crate::reference::{Reference, ReferenceError};
use crate::store::{Store, StoreError, StoredImage};

/// Deepest nesting of indexes followed when importing.
const MAX_INDEX_DEPTH: usize = 4;
/// Most descriptors accepted in one index.
const MAX_DESCRIPTORS: usize = 10_000;

/// The `oci-layout` file content kiln writes.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Errors reading or writing OCI image layouts.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The output directory exists and is not empty.
    #[error("output directory {} is not empty; choose a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// A required file or blob is missing.
    #[error("{location}: {what} is missing; this is not a complete OCI image layout")]
    Missing {
        /// What is missing.
        what: String,
        /// The layout or archive.
        location: String,
    },
    /// A path in the layout is a symlink, device, FIFO or directory instead of a regular file.
    #[error("{location}: {what} is not a regular file (symlinks and special files are refused)")]
    NotRegularFile {
        /// The file.
        what: String,
        /// The layout or archive.
        location: String,
    },
    /// A file or blob exceeds its size cap.
    #[error("{location}: {what} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// The layout or archive.
        location: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Invalid JSON.
    #[error("{location}: {what} is not valid: {source}")]
    Json {
        /// The file or blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Unsupported `imageLayoutVersion`.
    #[error(
        "{location}: unsupported imageLayoutVersion {version:?}; only 1.x layouts are supported"
    )]
    Version {
        /// The layout or archive.
        location: String,
        /// The version found.
        version: String,
    },
    /// Content does not match its descriptor's digest.
    #[error("{location}: {what} has digest {actual} but its descriptor says {expected}; the layout is corrupt or was tampered with")]
    DigestMismatch {
        /// The blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// From the descriptor.
        expected: Digest,
        /// Of the content.
        actual: Digest,
    },
    /// Content does not match its descriptor's size.
    #[error("{location}: {what} is {actual} bytes but its descriptor says {expected}; the layout is corrupt or was tampered with")]
    SizeMismatch {
        /// The blob.
        what: String,
        /// The layout or archive.
        location: String,
        /// From the descriptor.
        expected: u64,
        /// Of the content.
        actual: u64,
    },
    /// A descriptor's digest is not sha256.
    #[error("{location}: descriptor of {what} has an unsupported digest: {source}")]
    BadDigest {
        /// The descriptor.
        what: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: DigestError,
    },
    /// An image name annotation is not a valid reference.
    #[error("{location}: image name {value:?} in index.json is invalid: {source}")]
    BadName {
        /// The annotation value.
        value: String,
        /// The layout or archive.
        location: String,
        /// The parse error.
        source: Box<ReferenceError>,
    },
    /// Nothing importable was found.
    #[error("{location}: index.json lists no image manifests ({skipped} descriptors of other types skipped)")]
    NoImages {
        /// The layout or archive.
        location: String,
        /// Descriptors skipped.
        skipped: usize,
    },
    /// A multi-platform index has no manifest for this host.
    #[error(
        "{location}: index {index} has no manifest for linux/{wanted}; available: {available}"
    )]
    NoMatchingPlatform {
        /// The layout or archive.
        location: String,
        /// The index digest.
        index: Digest,
        /// The host architecture.
        wanted: String,
        /// Platforms present.
        available: String,
    },
    /// Indexes nest too deeply or are too large.
    #[error("{location}: {what}; refusing to import")]
    Limits {
        /// The layout or archive.
        location: String,
        /// Which limit was hit.
        what: String,
    },
    /// The underlying archive could not be read.
    #[error(transparent)]
    Archive(Box<crate::archive::ArchiveError>),
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Image metadata is inconsistent.
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl LayoutError {
    /// The class of this failure, for the exit code: a layout that is incomplete, corrupt,
    /// oversized or hostile is [`ErrorKind::Rejected`]; an output directory that is not
    /// empty is [`ErrorKind::Usage`] (the command line named it); a file that cannot be
    /// read or written is [`ErrorKind::Io`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            LayoutError::Io { .. } => ErrorKind::Io,
            LayoutError::NotEmpty(_) => ErrorKind::Usage,
            LayoutError::Missing { .. }
            | LayoutError::NotRegularFile { .. }
            | LayoutError::TooLarge { .. }
            | LayoutError::Json { .. }
            | LayoutError::Version { .. }
            | LayoutError::DigestMismatch { .. }
            | LayoutError::SizeMismatch { .. }
            | LayoutError::BadDigest { .. }
            | LayoutError::BadName { .. }
            | LayoutError::NoImages { .. }
            | LayoutError::NoMatchingPlatform { .. }
            | LayoutError::Limits { .. } => ErrorKind::Rejected,
            LayoutError::Archive(e) => e.kind(),
            LayoutError::Store(e) => e.kind(),
            LayoutError::Image(e) => e.kind(),
        }
    }
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> LayoutError {
    LayoutError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where an imported layout's files and blobs come from: a directory or an indexed archive.
pub(crate) trait Source {
    /// Human-readable location for error messages.
    fn location(&self) -> String;
    /// Reads a top-level metadata file (`oci-layout`, `index.json`); `None` if absent.
    fn read_file(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, LayoutError>;
    /// Reads a blob fully (it must be at most `max` bytes), verifying digest and size.
    fn read_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, LayoutError>;
    /// Checks that a blob exists with this size (and digest, when already known).
    fn check_blob(&mut self, digest: &Digest, size: u64) -> Result<(), LayoutError>;
    /// Copies a blob the store does not have into it, verifying digest and size.
    fn copy_blob(&mut self, store: &Store, digest: &Digest, size: u64) -> Result<(), LayoutError>;
    /// Copies a blob into the store unless the store has it already.
    fn commit_blob(
        &mut self,
        store: &Store,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        if store.has_blob(digest) {
            return Ok(());
        }
        self.copy_blob(store, digest, size)
    }
}

/// Blob path inside a layout or archive.
pub(crate) fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Describes a size/digest check failure.
pub(crate) fn verify(
    location: &str,
    digest: &Digest,
    size: u64,
    actual_digest: &Digest,
    actual_size: u64,
) -> Result<(), LayoutError> {
    if actual_size != size {
        return Err(LayoutError::SizeMismatch {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            expected: size,
            actual: actual_size,
        });
    }
    if actual_digest != digest {
        return Err(LayoutError::DigestMismatch {
            what: blob_name(digest),
            location: location.to_owned(),
            expected: *digest,
            actual: *actual_digest,
        });
    }
    Ok(())
}
pub(crate) fn check_cap(
    location: &str,
    digest: &Digest,
    size: u64,
    max: u64,
) -> Result<(), LayoutError> {
    if size > max {
        return Err(LayoutError::TooLarge {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            size,
            max,
        });
    }
    Ok(())
}
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    location: &str,
) -> Result<T, LayoutError> {
    crate::json::parse(bytes).map_err(|source| LayoutError::Json {
        what: what.to_owned(),
        location: location.to_owned(),
        source,
    })
}

pub(super) fn desc_digest(
    d: &Descriptor,
    what: &str,
    location: &str,
) -> Result<Digest, LayoutError> {
    Digest::try_from(d.digest()).map_err(|source| LayoutError::BadDigest {
        what: what.to_owned(),
        location: location.to_owned(),
        source,
    })
}

mod dir_source;
mod import;
mod write;

pub(crate) use import::import;
pub use import::read_layout;
pub(crate) use write::plan;
pub use write::write_layout;
