//! The project's one tar reader, built for hostile input: layers extracted by kiln-layer
//! and image archives loaded by `kiln load` read their tar streams through it.
//!
//! Understands ustar (with `prefix`), GNU (`L`/`K` long names, base-256
//! numbers), v7, and PAX (`x` local headers; `g` global headers are read and
//! ignored). Extension headers are size-limited ([`MAX_PAX`], [`MAX_LONGNAME`]) so a
//! hostile archive cannot make the reader allocate much memory: the limit is checked
//! against the declared size before a byte of the body is read. Sparse files and other
//! exotic types are reported as such; the caller decides.
//!
//! Writing stays elsewhere: kiln-layer's `tar_write` writes layers, and the `tar` crate
//! writes image archives from names and blobs kiln made itself (see `archive::write_tar`).

mod error;
mod header;
mod pax;
mod reader;

pub use error::TarError;
pub use header::{is_tar_header, RawEntry};
pub use reader::{Content, TarReader};

/// Largest PAX extended header accepted (local or global).
pub const MAX_PAX: u64 = 1 << 20;
/// Largest GNU long name / long link accepted.
pub const MAX_LONGNAME: u64 = 64 * 1024;
