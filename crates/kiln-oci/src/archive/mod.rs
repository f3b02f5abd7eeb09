//! Image archives: write oci-archives (a tar of an OCI layout) and
//! docker-archives (`docker save` format), and load either, or an OCI layout
//! directory, into the store.
//!
//! Writing is deterministic: entries sorted by name, mtime 0, uid/gid 0,
//! fixed modes. Reading never extracts: the tar stream (optionally gzip
//! compressed) is indexed into temp files inside the store, names are only
//! map keys, and every blob is verified before it becomes a store blob.
//!
//! docker-archive layers: uncompressed layer tars must hash to the config's
//! diff-id and are stored as-is (`application/vnd.oci.image.layer.v1.tar`);
//! gzip-compressed ones are decompressed while copying into the store and
//! verified against the diff-id; zstd ones are refused. The config bytes are
//! kept unchanged (so the image ID is preserved) and an OCI manifest is written
//! for them.

mod docker;
mod tarindex;

use crate::error_kind::ErrorKind;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::compression::{self, Compression};
use crate::digest::Digest;
use crate::image::ImageError;
use crate::layout::{self, LayoutError};
use crate::reference::ReferenceError;
use crate::store::{Store, StoreError, StoredImage};

pub use docker::write_docker_archive;
use tarindex::TarIndex;

/// Errors reading or writing image archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
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
    /// The archive stream is unreadable (truncated, not a tar, bad gzip).
    #[error("{location}: cannot read the archive: {source}")]
    Read {
        /// The archive.
        location: String,
        /// The error.
        source: io::Error,
    },
    /// The tar stream is malformed (bad header or checksum, an extension header over its cap).
    #[error("{location}: cannot read the archive: {source}; refusing to load it (recreate it with `kiln save`, `docker save` or `skopeo copy`)")]
    Tar {
        /// The archive.
        location: String,
        /// What the tar reader found.
        source: crate::tar::TarError,
    },
    /// Writing the output failed.
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),
    /// An entry name is absolute, has `..`, or is otherwise unusable.
    #[error("{location}: entry {entry:?} {reason}; refusing to load this archive")]
    EntryPath {
        /// The archive.
        location: String,
        /// The entry name as found.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A symlink or hard link leaves the archive.
    #[error("{location}: link {entry:?} -> {target:?} {reason}; refusing to load this archive")]
    Link {
        /// The archive.
        location: String,
        /// The link entry.
        entry: String,
        /// Its target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A device, FIFO or sparse entry.
    #[error("{location}: entry {entry:?} has unsupported type {kind}; image archives contain only files, directories and links")]
    UnsupportedEntry {
        /// The archive.
        location: String,
        /// The entry.
        entry: String,
        /// Its type.
        kind: String,
    },
    /// Two file entries with the same name.
    #[error("{location}: entry {entry:?} appears twice; refusing an ambiguous archive")]
    Duplicate {
        /// The archive.
        location: String,
        /// The entry.
        entry: String,
    },
    /// Too many entries.
    #[error("{location}: more than {max} entries; refusing to load")]
    TooManyEntries {
        /// The archive.
        location: String,
        /// The limit.
        max: usize,
    },
    /// A metadata file exceeds its cap.
    #[error("{location}: {what} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// The archive.
        location: String,
        /// The file.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A file the format needs is absent.
    #[error("{location}: {what} is missing from the archive")]
    Missing {
        /// The archive.
        location: String,
        /// The missing file.
        what: String,
    },
    /// Invalid JSON.
    #[error("{location}: {what} is not valid: {source}")]
    Json {
        /// The archive.
        location: String,
        /// The file.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Content does not match the digest it must have.
    #[error("{location}: {what} has digest {actual} but {expected} was expected; the archive is corrupt or was tampered with")]
    DigestMismatch {
        /// The archive.
        location: String,
        /// What was checked.
        what: String,
        /// The expected digest.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// Compressed with something kiln does not read.
    #[error(
        "{location}: {what} is {kind}-compressed, which kiln cannot read here; decompress it first"
    )]
    Compression {
        /// The archive.
        location: String,
        /// What is compressed.
        what: String,
        /// The compression.
        kind: &'static str,
    },
    /// Neither an OCI layout nor a docker-archive.
    #[error("{location}: not an image archive: it has neither oci-layout + index.json (OCI) nor manifest.json (docker-archive)")]
    UnknownFormat {
        /// The archive.
        location: String,
    },
    /// The docker-archive is inconsistent.
    #[error("{location}: {detail}")]
    Invalid {
        /// The archive.
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// A RepoTags entry is not a valid reference.
    #[error("{location}: RepoTags entry {value:?} is invalid: {source}")]
    BadName {
        /// The archive.
        location: String,
        /// The name as found.
        value: String,
        /// The parse error.
        source: Box<ReferenceError>,
    },
    /// Reading or writing the OCI layout failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Image metadata is inconsistent.
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl ArchiveError {
    /// The class of this failure, for the exit code: an archive that cannot be read
    /// (truncated, not a tar), is malformed, hostile or corrupt is [`ErrorKind::Rejected`];
    /// a local file or the output that cannot be opened or written is [`ErrorKind::Io`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::Io { .. } | ArchiveError::Write(_) => ErrorKind::Io,
            ArchiveError::Read { .. }
            | ArchiveError::Tar { .. }
            | ArchiveError::EntryPath { .. }
            | ArchiveError::Link { .. }
            | ArchiveError::UnsupportedEntry { .. }
            | ArchiveError::Duplicate { .. }
            | ArchiveError::TooManyEntries { .. }
            | ArchiveError::TooLarge { .. }
            | ArchiveError::Missing { .. }
            | ArchiveError::Json { .. }
            | ArchiveError::DigestMismatch { .. }
            | ArchiveError::Compression { .. }
            | ArchiveError::UnknownFormat { .. }
            | ArchiveError::Invalid { .. }
            | ArchiveError::BadName { .. } => ErrorKind::Rejected,
            ArchiveError::Layout(e) => e.kind(),
            ArchiveError::Store(e) => e.kind(),
            ArchiveError::Image(e) => e.kind(),
        }
    }

    /// The archive the error is about, if any.
    pub fn location(&self) -> &str {
        match self {
            ArchiveError::Read { location, .. }
            | ArchiveError::Tar { location, .. }
            | ArchiveError::EntryPath { location, .. }
            | ArchiveError::Link { location, .. }
            | ArchiveError::UnsupportedEntry { location, .. }
            | ArchiveError::Duplicate { location, .. }
            | ArchiveError::TooManyEntries { location, .. }
            | ArchiveError::TooLarge { location, .. }
            | ArchiveError::Missing { location, .. }
            | ArchiveError::Json { location, .. }
            | ArchiveError::DigestMismatch { location, .. }
            | ArchiveError::Compression { location, .. }
            | ArchiveError::UnknownFormat { location }
            | ArchiveError::Invalid { location, .. }
            | ArchiveError::BadName { location, .. } => location,
            _ => "",
        }
    }
}

/// Loads images into the store from `path`: an OCI layout directory, an
/// oci-archive or a docker-archive tar file (plain or gzip-compressed).
pub fn load(store: &Store, path: &Path) -> Result<Vec<StoredImage>, ArchiveError> {
    let meta = std::fs::metadata(path).map_err(|e| ArchiveError::Io {
        action: "open",
        path: path.to_owned(),
        source: e,
    })?;
    if meta.is_dir() {
        return Ok(layout::read_layout(store, path)?);
    }
    let file = File::open(path).map_err(|e| ArchiveError::Io {
        action: "open",
        path: path.to_owned(),
        source: e,
    })?;
    load_reader(store, file, &path.display().to_string())
}

/// Loads images from a tar stream (plain or gzip-compressed), e.g. standard
/// input; `location` names it in errors.
pub fn load_reader<R: Read>(
    store: &Store,
    reader: R,
    location: &str,
) -> Result<Vec<StoredImage>, ArchiveError> {
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let head = reader.fill_buf().map_err(|e| ArchiveError::Read {
        location: location.to_owned(),
        source: e,
    })?;
    let index = match Compression::detect(head) {
        c @ Compression::Gzip => {
            let decoder = compression::decoder(c, reader).map_err(|e| ArchiveError::Read {
                location: location.to_owned(),
                source: io::Error::other(e),
            })?;
            TarIndex::build(store, decoder, location.to_owned())?
        }
        c @ (Compression::Zstd | Compression::Xz | Compression::Bzip2) => {
            return Err(ArchiveError::Compression {
                location: location.to_owned(),
                what: "the archive".to_owned(),
                kind: c.name(),
            })
        }
        Compression::None => TarIndex::build(store, reader, location.to_owned())?,
    };
    load_index(store, index)
}

fn load_index(store: &Store, mut index: TarIndex) -> Result<Vec<StoredImage>, ArchiveError> {
    if index.contains("oci-layout") && index.contains("index.json") {
        Ok(layout::import(store, &mut index)?)
    } else if index.contains("manifest.json") {
        docker::read(store, &mut index)
    } else {
        Err(ArchiveError::UnknownFormat {
            location: index.location().to_owned(),
        })
    }
}

/// Content of one entry of an archive being written.
enum Content {
    Dir,
    Bytes(Vec<u8>),
    /// A file of known size (a store blob or a temp file).
    File(PathBuf, u64),
}

/// Writes `entries` as a deterministic tar: sorted, mtime 0, root-owned.
fn write_tar<W: Write>(out: W, entries: &BTreeMap<String, Content>) -> Result<W, ArchiveError> {
    // The `tar` crate writes here; kiln's own tar code reads (`crate::tar`, for every
    // archive and layer) and kiln-layer's LayerWriter writes layers. The crate stays on this
    // side only, because what it writes is trusted: directories and regular files with names
    // kiln made (blobs/sha256/<hex>, index.json, ...), mtime 0, root-owned; no xattrs,
    // links, devices or whiteouts. Its unbounded long-name/PAX reading never runs here.
    let mut builder = ::tar::Builder::new(out);
    builder.mode(::tar::HeaderMode::Deterministic);
    for (name, content) in entries {
        let mut header = ::tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let result = match content {
            Content::Dir => {
                header.set_entry_type(::tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, name, io::empty())
            }
            Content::Bytes(bytes) => {
                header.set_entry_type(::tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, name, &bytes[..])
            }
            Content::File(path, size) => {
                let file = File::open(path).map_err(|e| ArchiveError::Io {
                    action: "open",
                    path: path.clone(),
                    source: e,
                })?;
                header.set_entry_type(::tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(*size);
                builder.append_data(&mut header, name, file.take(*size))
            }
        };
        result.map_err(ArchiveError::Write)?;
    }
    builder.into_inner().map_err(ArchiveError::Write)
}

/// Writes an oci-archive (a tar of an OCI image layout) for `images` to `out`.
pub fn write_oci_archive<W: Write>(
    store: &Store,
    images: &[StoredImage],
    out: W,
) -> Result<W, ArchiveError> {
    let plan = layout::plan(store, images)?;
    let mut entries = BTreeMap::new();
    entries.insert("blobs/".to_owned(), Content::Dir);
    entries.insert("blobs/sha256/".to_owned(), Content::Dir);
    for (digest, size) in &plan.blobs {
        entries.insert(
            layout::blob_name(digest),
            Content::File(store.blob_path(digest), *size),
        );
    }
    entries.insert("index.json".to_owned(), Content::Bytes(plan.index_json));
    entries.insert(
        "oci-layout".to_owned(),
        Content::Bytes(layout::OCI_LAYOUT_FILE.to_vec()),
    );
    write_tar(out, &entries)
}
