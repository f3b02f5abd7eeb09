//! The store's error type and its class ([`StoreError::kind`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error_kind::ErrorKind;
use crate::image::ImageError;
use crate::reference::{Reference, ReferenceError};

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}{}", path.display(), io_hint(source))]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Content does not match its expected digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}; the content is corrupt or was tampered with")]
    DigestMismatch {
        /// What was verified.
        what: String,
        /// The expected digest.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// A blob is not in the store.
    #[error("blob {digest} not found in the store (expected at {})", path.display())]
    BlobNotFound {
        /// The missing blob.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// Content exceeds a size cap.
    #[error("{what} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A JSON blob does not parse.
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    Json {
        /// The blob.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// `images.json` is unreadable.
    #[error("image index {} is corrupt: {problem}; restore it from a backup or delete it to start over (blobs are kept)", path.display())]
    CorruptIndex {
        /// Path of images.json.
        path: PathBuf,
        /// What is wrong.
        #[source]
        problem: IndexProblem,
    },
    /// The store root belongs to another user, who could plant links in it.
    #[error("store root {} belongs to uid {owner}, not to uid {me} that runs kiln: that user could plant symlinks in it (cache mounts, layers) that the build then follows; use a directory you own (--root DIR)", path.display())]
    ForeignRoot {
        /// The store root.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// No image has that name, digest or ID.
    #[error("no such image: {0}; list images with `kiln images`")]
    ImageNotFound(String),
    /// An ID prefix matches several images.
    #[error(
        "image ID prefix {prefix:?} is ambiguous: it matches {count} images; give more hex digits"
    )]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// A name to tag with has no tag.
    #[error("cannot tag with {0}: the name needs a tag (e.g. {name}:latest), not only a digest", name = .0.name())]
    TagRequired(Reference),
    /// An image needs a blob the store does not have.
    #[error("image {manifest} needs blob {blob}, which is not in the store (a concurrent `rmi` may have removed it); retry the operation")]
    BlobMissing {
        /// The image's manifest digest.
        manifest: Digest,
        /// The missing blob.
        blob: Digest,
    },
    /// The name or ID given is neither a valid reference nor an ID.
    #[error("{input:?} is neither an image name nor an image ID: {source}")]
    BadName {
        /// The input.
        input: String,
        /// Why it is not a reference.
        source: Box<ReferenceError>,
    },
    /// A directory to remove has a mount inside.
    #[error("cannot remove {}: {} is mounted inside it (left by a killed build); unmount it with `umount -l {}` and run `kiln prune` again", path.display(), mount.display(), mount.display())]
    MountInside {
        /// The directory.
        path: PathBuf,
        /// The mount point.
        mount: PathBuf,
    },
    /// Seeding a new cache mount from its `from=` source failed.
    #[error("cannot seed {} from {}: cp -a said: {stderr}; check that the source is readable and the store has free space", path.display(), seed.display())]
    CacheSeed {
        /// The cache directory being filled.
        path: PathBuf,
        /// What it was to be filled from.
        seed: PathBuf,
        /// What `cp` said (it has no other detail to give).
        stderr: String,
    },
    /// A name for a file in a store cache area that would not stay inside it.
    #[error("{name:?} is not a valid name in the store's {area} cache (letters, digits, '.', '-' and '_' only, not starting with '.'); this is a bug in kiln")]
    CacheName {
        /// The cache area.
        area: &'static str,
        /// The name given.
        name: String,
    },
    /// Image metadata is inconsistent.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// What is wrong with `images.json`.
#[derive(Debug, thiserror::Error)]
pub enum IndexProblem {
    /// A recorded name does not parse.
    #[error("bad image name {name:?}: {source}")]
    BadName {
        /// The name as recorded.
        name: String,
        /// Why it does not parse.
        source: Box<ReferenceError>,
    },
    /// The file is larger than kiln reads.
    #[error("larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The file is not JSON of the expected shape.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// The records could not be serialised (a bug).
    #[error("cannot serialise: {0}")]
    Serialise(#[source] serde_json::Error),
}

impl StoreError {
    /// The class of this failure, for the exit code.
    ///
    /// Damaged or hostile content (a digest mismatch, an oversized or malformed blob,
    /// inconsistent image metadata) is [`ErrorKind::Rejected`]. A name or ID that matches no
    /// image, matches several, does not parse, or lacks a tag is also `Rejected` (exit 1,
    /// as `kiln inspect nope:1` has always exited): it may come from the command line, but
    /// equally from an archive or a Dockerfile's `FROM`, and "fix the input" fits both.
    /// Everything about the store's own files (I/O, a missing blob, a corrupt `images.json`,
    /// a root owned by another user, a leftover mount, a failed cache seed) is
    /// [`ErrorKind::Io`]. A bad cache file name is a bug: [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::CorruptIndex {
                problem: IndexProblem::Serialise(_),
                ..
            } => ErrorKind::Internal,
            StoreError::Io { .. }
            | StoreError::BlobNotFound { .. }
            | StoreError::CorruptIndex { .. }
            | StoreError::ForeignRoot { .. }
            | StoreError::BlobMissing { .. }
            | StoreError::MountInside { .. }
            | StoreError::CacheSeed { .. } => ErrorKind::Io,
            StoreError::DigestMismatch { .. }
            | StoreError::TooLarge { .. }
            | StoreError::Json { .. }
            | StoreError::ImageNotFound(_)
            | StoreError::AmbiguousId { .. }
            | StoreError::TagRequired(_)
            | StoreError::BadName { .. } => ErrorKind::Rejected,
            StoreError::Image(e) => e.kind(),
            StoreError::CacheName { .. } => ErrorKind::Internal,
        }
    }
}

/// What to do about an OS error on a store file, as "; ..." (empty when there is no
/// general advice).
fn io_hint(e: &io::Error) -> &'static str {
    use rustix::io::Errno;
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOSPC | Errno::DQUOT) => {
            "; the file system is full: free some space, or remove what kiln no longer needs with `kiln prune`"
        }
        Some(Errno::ROFS) => "; the file system is read-only: use a writable store (--root DIR)",
        Some(Errno::ACCESS | Errno::PERM) => {
            "; check the permissions of the store, or use a store of your own (--root DIR)"
        }
        _ => "",
    }
}

pub(crate) fn io_err(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_what_to_do_when_there_is_general_advice() {
        let full = io_err(
            "write",
            Path::new("/store/blobs/x"),
            io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error()),
        );
        let text = full.to_string();
        assert!(text.starts_with("cannot write /store/blobs/x: "), "{text}");
        assert!(text.contains("kiln prune"), "{text}");
        assert_eq!(full.kind(), ErrorKind::Io);
        let denied = io_err(
            "create directory",
            Path::new("/store/tmp"),
            io::Error::from_raw_os_error(rustix::io::Errno::ACCESS.raw_os_error()),
        );
        assert!(denied.to_string().contains("--root DIR"), "{denied}");
        let other = io_err("read", Path::new("/f"), io::Error::other("boom"));
        assert_eq!(other.to_string(), "cannot read /f: boom");
        assert!(std::error::Error::source(&other).is_some());
    }
}
