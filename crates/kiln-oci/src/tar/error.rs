//! What stops the tar reader.

use std::io;

/// A tar stream that cannot be read or is malformed; each names the byte offset in the
/// (decompressed) stream.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Reading the stream failed (including an end in the middle of a header or body).
    #[error("reading the tar stream at byte {offset}: {source}")]
    Read {
        /// Byte offset in the (decompressed) stream.
        offset: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The stream is malformed or goes beyond a limit (bad header, oversized extension header).
    #[error("the tar stream is corrupt at byte {offset}: {what}")]
    Corrupt {
        /// Byte offset of the bad header.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

pub(super) fn corrupt(offset: u64, what: impl Into<String>) -> TarError {
    TarError::Corrupt {
        offset,
        what: what.into(),
    }
}

/// The stream ended at `offset` where more bytes were due.
pub(super) fn truncated(offset: u64) -> TarError {
    TarError::Read {
        offset,
        source: io::ErrorKind::UnexpectedEof.into(),
    }
}
