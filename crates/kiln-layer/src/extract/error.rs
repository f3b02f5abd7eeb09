//! What can stop an extraction.

use super::*;
use kiln_oci::ErrorKind;

/// Extraction errors. Each names the member (as written in the archive) or
/// the archive offset, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the archive failed.
    #[error("reading layer tar at byte {offset}: {source}; {hint}", hint = hint(.source))]
    Read {
        /// Byte offset in the (decompressed) archive.
        offset: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The archive is malformed.
    #[error(
        "layer tar is corrupt at byte {offset}: {what}; the file is damaged or not a tar archive"
    )]
    Corrupt {
        /// Byte offset of the bad header.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A member name (or hard link target) climbs above the root.
    #[error("layer tar entry {entry:?}: {what} {name:?} climbs above the root with `..`; refusing to extract this archive")]
    Escape {
        /// Member name.
        entry: String,
        /// "name" or "hard link target".
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// A member name is too long.
    #[error("layer tar entry {entry:?}...: name is {len} bytes, more than the limit of {MAX_NAME}; refusing to extract")]
    NameTooLong {
        /// First bytes of the member name.
        entry: String,
        /// Name length.
        len: usize,
    },
    /// A member type we do not extract.
    #[error("layer tar entry {entry:?}: unsupported entry type {typeflag:?} ({what}); rebuild the archive without it")]
    Unsupported {
        /// Member name.
        entry: String,
        /// Tar type flag.
        typeflag: char,
        /// Description.
        what: String,
    },
    /// A hard link whose target is missing, a directory, or invalid.
    #[error("layer tar entry {entry:?}: hard link target {target:?} {why}; refusing to extract")]
    HardlinkTarget {
        /// Member name.
        entry: String,
        /// Link target as written.
        target: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A malformed whiteout member.
    #[error("layer tar entry {entry:?}: invalid whiteout (it names no file); rebuild the layer")]
    BadWhiteout {
        /// Member name.
        entry: String,
    },
    /// Numeric value out of range for this system.
    #[error("layer tar entry {entry:?}: {what} {value} is out of range; rebuild the archive with 32-bit ids")]
    OutOfRange {
        /// Member name.
        entry: String,
        /// Field.
        what: &'static str,
        /// Value.
        value: u64,
    },
    /// Writing file content failed.
    #[error("layer tar entry {entry:?}: writing file content: {source}; {hint}", hint = hint(.source))]
    Write {
        /// Member name.
        entry: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation in the target root failed.
    #[error("layer tar entry {entry:?}: {source}")]
    Fs {
        /// Member name.
        entry: String,
        /// Cause.
        #[source]
        source: root::Error,
    },
}

impl From<kiln_oci::tar::TarError> for Error {
    fn from(e: kiln_oci::tar::TarError) -> Error {
        match e {
            kiln_oci::tar::TarError::Read { offset, source } => Error::Read { offset, source },
            kiln_oci::tar::TarError::Corrupt { offset, what } => Error::Corrupt { offset, what },
        }
    }
}

impl Error {
    /// The class of this failure, for the exit code: a layer that is truncated, corrupt or
    /// hostile (an escaping name, an unsupported entry, a bad hard link or whiteout) is
    /// [`ErrorKind::Rejected`]; failing to write what it holds is [`ErrorKind::Io`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Read { source, .. } => root::stream_kind(source),
            Error::Corrupt { .. }
            | Error::Escape { .. }
            | Error::NameTooLong { .. }
            | Error::Unsupported { .. }
            | Error::HardlinkTarget { .. }
            | Error::BadWhiteout { .. }
            | Error::OutOfRange { .. } => ErrorKind::Rejected,
            Error::Write { .. } => ErrorKind::Io,
            Error::Fs { source, .. } => source.kind(),
        }
    }
}
