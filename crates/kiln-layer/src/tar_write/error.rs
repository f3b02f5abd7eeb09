//! Errors of the layer writer.

use super::*;
use kiln_oci::ErrorKind;

/// Errors of the layer writer. Each names the entry it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The entry path or link target is not acceptable.
    #[error("layer entry {path:?}: {what}")]
    InvalidEntry {
        /// Entry path as given.
        path: String,
        /// What is wrong and what to do.
        what: String,
    },
    /// Writing to the output failed.
    #[error("writing layer entry {path:?}: {source}; {hint}", hint = root::hint(.source))]
    Write {
        /// Entry path.
        path: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Reading the content of a file entry failed.
    #[error("reading content for layer entry {path:?}: {source}; {hint}", hint = root::hint(.source))]
    ReadContent {
        /// Entry path.
        path: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The content reader did not yield exactly the declared size.
    #[error("layer entry {path:?}: content is {got} bytes but the entry declares {want}; the file changed while it was read: retry the build")]
    SizeMismatch {
        /// Entry path.
        path: String,
        /// Declared size.
        want: u64,
        /// What the reader yielded (a lower bound if it grew).
        got: u64,
    },
    /// A path given to [`write_paths`] does not exist in the root.
    #[error("{path}: listed for the layer but missing from root {root}; it was removed meanwhile or the path is wrong", path = .path.display(), root = .root.display())]
    Missing {
        /// Container path.
        path: PathBuf,
        /// Host path of the root.
        root: PathBuf,
    },
    /// A filesystem operation on the source root failed.
    #[error(transparent)]
    Root(#[from] root::Error),
}

impl Error {
    /// The class of this failure, for the exit code: an entry that cannot be written as a
    /// layer entry (its path or link target) is [`ErrorKind::Rejected`]; reading the files
    /// or writing the output is [`ErrorKind::Io`] (a file that changed or vanished while it
    /// was read included).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidEntry { .. } => ErrorKind::Rejected,
            Error::Write { .. }
            | Error::ReadContent { .. }
            | Error::SizeMismatch { .. }
            | Error::Missing { .. } => ErrorKind::Io,
            Error::Root(e) => e.kind(),
        }
    }
}
