//! Indexes a hostile tar stream into temp files inside the store: each regular
//! file is streamed to `<root>/tmp/work-*/entry-*` while its sha256 is
//! computed, and recorded under its normalised archive name. Nothing is ever
//! written to a path taken from the archive.
//!
//! The stream is read with kiln's hardened reader ([`crate::tar`]), whose caps on PAX
//! and GNU long-name headers bound the memory a hostile archive can make it use.
//!
//! Entry names that are absolute or contain `..` are refused. Symlinks and
//! hard links are kept as aliases inside the archive's own namespace (Docker
//! and containers/image write them for shared layers); a link whose target is
//! absolute or leaves the archive root is refused. Devices, FIFOs and sparse
//! files are refused.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};

use tempfile::{TempDir, TempPath};

use super::ArchiveError;
use crate::digest::{Digest, DigestWriter};
use crate::layout::{self, LayoutError, Source};
use crate::store::Store;
use crate::tar::{RawEntry, TarError, TarReader};

/// Most entries accepted in one archive.
pub(crate) const MAX_ENTRIES: usize = 200_000;
/// Most symlink hops followed when resolving a name.
const MAX_LINK_HOPS: usize = 16;

#[derive(Debug)]
struct FileEntry {
    /// The temp file, until it is moved into the store's blobs.
    temp: Option<TempPath>,
    digest: Digest,
    size: u64,
}

/// An archive indexed into the store's temp directory.
#[derive(Debug)]
pub(crate) struct TarIndex {
    location: String,
    store: Store,
    files: HashMap<String, FileEntry>,
    links: HashMap<String, String>,
    // Dropped last: removes whatever temp files were not adopted.
    _dir: TempDir,
}

/// A file found in the index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

/// Normalises an archive path: no absolute paths, no `..`, `.` and empty
/// components dropped. `Ok(None)` for the archive root itself.
pub(crate) fn normalize(name: &str) -> Result<Option<String>, &'static str> {
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("contains a '..' component"),
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    })
}

/// Resolves a symlink target relative to the link's directory, inside the archive.
fn resolve_symlink(link: &str, target: &str) -> Result<String, &'static str> {
    if target.starts_with('/') {
        return Err("points to an absolute path");
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("points outside the archive");
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("points to the archive root");
    }
    Ok(parts.join("/"))
}

impl TarIndex {
    /// Reads the whole tar stream, indexing it into a new temp dir in the store.
    pub(crate) fn build<R: Read>(
        store: &Store,
        reader: R,
        location: String,
    ) -> Result<TarIndex, ArchiveError> {
        let dir = store.temp_dir()?;
        let mut index = TarIndex {
            location,
            store: store.clone(),
            files: HashMap::new(),
            links: HashMap::new(),
            _dir: dir,
        };
        // kiln's own reader (`crate::tar`), the one kiln-layer extracts layers with: it
        // refuses a PAX header over 1 MiB or a GNU long name over 64 KiB from its declared
        // size, before reading the body, so a hostile archive cannot make `kiln load`
        // allocate what it declares.
        let mut tar = TarReader::new(reader);
        let mut count = 0;
        while let Some(entry) = tar.next_entry().map_err(|e| index.tar_err(e))? {
            count += 1;
            if count > MAX_ENTRIES {
                return Err(ArchiveError::TooManyEntries {
                    location: index.location.clone(),
                    max: MAX_ENTRIES,
                });
            }
            index.add(&entry, &mut tar)?;
        }
        Ok(index)
    }

    /// A stream that cannot be read (I/O error, truncated) stays [`ArchiveError::Read`],
    /// with the offset kept in the message; a malformed one is [`ArchiveError::Tar`].
    fn tar_err(&self, source: TarError) -> ArchiveError {
        let location = self.location.clone();
        match source {
            TarError::Read { source: io, offset } => ArchiveError::Read {
                location,
                source: io::Error::new(io.kind(), TarError::Read { offset, source: io }),
            },
            source @ TarError::Corrupt { .. } => ArchiveError::Tar { location, source },
        }
    }

    /// Records one member: a file streams into a temp file, a link becomes an alias,
    /// a directory is skipped, anything else is refused.
    fn add<R: Read>(
        &mut self,
        entry: &RawEntry,
        tar: &mut TarReader<R>,
    ) -> Result<(), ArchiveError> {
        let raw = String::from_utf8_lossy(&entry.name).into_owned();
        let entry_err = |reason: &str| ArchiveError::EntryPath {
            location: self.location.clone(),
            entry: raw.chars().take(300).collect(),
            reason: reason.to_owned(),
        };
        if std::str::from_utf8(&entry.name).is_err() {
            return Err(entry_err("is not valid UTF-8"));
        }
        let is_dir = entry.typeflag == b'5';
        let Some(name) = normalize(&raw).map_err(entry_err)? else {
            if is_dir {
                return Ok(());
            }
            return Err(entry_err("names the archive root but is not a directory"));
        };
        if self.files.contains_key(&name) || self.links.contains_key(&name) {
            if is_dir {
                return Ok(());
            }
            return Err(ArchiveError::Duplicate {
                location: self.location.clone(),
                entry: name,
            });
        }
        let unsupported = |kind: String| ArchiveError::UnsupportedEntry {
            location: self.location.clone(),
            entry: name.clone(),
            kind,
        };
        if let Some(key) = &entry.unsupported_pax {
            return Err(unsupported(format!("sparse file (PAX record {key})")));
        }
        match entry.typeflag {
            b'0' | 0 | b'7' => self.add_file(name, tar),
            b'5' => Ok(()),
            b'1' | b'2' => self.add_link(name, entry),
            other => Err(unsupported(type_name(other))),
        }
    }

    /// Streams the current member into a temp file in the store, hashing it.
    fn add_file<R: Read>(
        &mut self,
        name: String,
        tar: &mut TarReader<R>,
    ) -> Result<(), ArchiveError> {
        let (file, temp) = tempfile::Builder::new()
            .prefix("entry-")
            .tempfile_in(self._dir.path())
            .map_err(|e| ArchiveError::Io {
                action: "create a temporary file in",
                path: self._dir.path().to_owned(),
                source: e,
            })?
            .into_parts();
        let mut writer = DigestWriter::new(io::BufWriter::with_capacity(256 << 10, file));
        io::copy(&mut tar.content(), &mut writer).map_err(|e| ArchiveError::Read {
            location: self.location.clone(),
            source: e,
        })?;
        let (buffered, digest, size) = writer.finish();
        buffered.into_inner().map_err(|e| ArchiveError::Io {
            action: "write",
            path: temp.to_path_buf(),
            source: e.into_error(),
        })?;
        let temp = Some(temp);
        self.files.insert(name, FileEntry { temp, digest, size });
        Ok(())
    }

    /// Records a symlink (`2`) or hard link (`1`) as an alias inside the archive.
    fn add_link(&mut self, name: String, entry: &RawEntry) -> Result<(), ArchiveError> {
        let target = String::from_utf8_lossy(&entry.link).into_owned();
        let link_err = |reason: &str| ArchiveError::Link {
            location: self.location.clone(),
            entry: name.clone(),
            target: target.chars().take(300).collect(),
            reason: reason.to_owned(),
        };
        if std::str::from_utf8(&entry.link).is_err() {
            return Err(link_err("target is not valid UTF-8"));
        }
        let resolved = if entry.typeflag == b'2' {
            resolve_symlink(&name, &target).map_err(link_err)?
        } else {
            normalize(&target)
                .map_err(link_err)?
                .ok_or_else(|| link_err("points to the archive root"))?
        };
        self.links.insert(name, resolved);
        Ok(())
    }

    /// Where the archive came from, for messages.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    fn resolve_name(&self, name: &str) -> Option<String> {
        let mut current = name.to_owned();
        for _ in 0..=MAX_LINK_HOPS {
            if self.files.contains_key(&current) {
                return Some(current);
            }
            current = self.links.get(&current)?.clone();
        }
        None
    }

    /// True if a regular file (directly or through links) has this name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.resolve_name(name).is_some()
    }

    /// Looks a file up by (normalised) name.
    pub(crate) fn get(&self, name: &str) -> Option<Found> {
        let key = self.resolve_name(name)?;
        self.files.get(&key).map(|f| Found {
            digest: f.digest,
            size: f.size,
        })
    }

    /// Opens a file's content (from its temp file, or its blob once adopted).
    pub(crate) fn open(&self, name: &str) -> Result<File, ArchiveError> {
        let missing = || ArchiveError::Missing {
            location: self.location.clone(),
            what: name.to_owned(),
        };
        let key = self.resolve_name(name).ok_or_else(missing)?;
        let entry = self.files.get(&key).ok_or_else(missing)?;
        match &entry.temp {
            Some(temp) => File::open(temp).map_err(|e| ArchiveError::Io {
                action: "open",
                path: temp.to_path_buf(),
                source: e,
            }),
            None => Ok(self.store.open_blob(&entry.digest)?),
        }
    }

    /// Reads a file of at most `max` bytes.
    pub(crate) fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, ArchiveError> {
        let found = self.get(name).ok_or_else(|| ArchiveError::Missing {
            location: self.location.clone(),
            what: name.to_owned(),
        })?;
        if found.size > max {
            return Err(ArchiveError::TooLarge {
                location: self.location.clone(),
                what: name.to_owned(),
                size: found.size,
                max,
            });
        }
        let mut bytes = Vec::new();
        self.open(name)?
            .take(max)
            .read_to_end(&mut bytes)
            .map_err(|e| ArchiveError::Read {
                location: self.location.clone(),
                source: e,
            })?;
        Ok(bytes)
    }

    /// Moves a file into the store's blobs (its digest was computed while indexing).
    pub(crate) fn adopt(&mut self, name: &str) -> Result<Digest, ArchiveError> {
        let missing = || ArchiveError::Missing {
            location: self.location.clone(),
            what: name.to_owned(),
        };
        let key = self.resolve_name(name).ok_or_else(missing)?;
        let entry = self.files.get_mut(&key).ok_or_else(missing)?;
        if let Some(temp) = entry.temp.take() {
            self.store.adopt_temp(temp, &entry.digest)?;
        }
        Ok(entry.digest)
    }
}

/// A member type an image archive may not hold, for messages.
fn type_name(typeflag: u8) -> String {
    match typeflag {
        b'3' => "character device".to_owned(),
        b'4' => "block device".to_owned(),
        b'6' => "FIFO".to_owned(),
        b'S' => "GNU sparse file".to_owned(),
        b'V' => "GNU volume label".to_owned(),
        b'M' => "GNU multi-volume continuation".to_owned(),
        other => format!("{:?}", char::from(other)),
    }
}

fn to_layout(e: ArchiveError) -> LayoutError {
    match e {
        ArchiveError::Store(s) => LayoutError::Store(s),
        ArchiveError::TooLarge {
            location,
            what,
            size,
            max,
        } => LayoutError::TooLarge {
            what,
            location,
            size,
            max,
        },
        ArchiveError::Missing { location, what } => LayoutError::Missing { what, location },
        ArchiveError::Io {
            action,
            path,
            source,
        } => LayoutError::Io {
            action,
            path,
            source,
        },
        other => LayoutError::Archive(Box::new(other)),
    }
}

impl TarIndex {
    fn blob(&self, digest: &Digest, size: u64) -> Result<String, LayoutError> {
        let name = layout::blob_name(digest);
        let found = self.get(&name).ok_or_else(|| LayoutError::Missing {
            what: name.clone(),
            location: self.location.clone(),
        })?;
        layout::verify(&self.location, digest, size, &found.digest, found.size)?;
        Ok(name)
    }
}

impl Source for TarIndex {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn read_file(&mut self, name: &str, max: u64) -> Result<Option<Vec<u8>>, LayoutError> {
        if !self.contains(name) {
            return Ok(None);
        }
        self.read(name, max).map(Some).map_err(to_layout)
    }

    fn read_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, LayoutError> {
        layout::check_cap(&self.location, digest, size, max)?;
        let name = self.blob(digest, size)?;
        self.read(&name, max).map_err(to_layout)
    }

    fn check_blob(&mut self, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        self.blob(digest, size).map(drop)
    }

    /// Moves the indexed temp file into the store's blobs (no copy).
    fn copy_blob(&mut self, _: &Store, digest: &Digest, size: u64) -> Result<(), LayoutError> {
        let name = self.blob(digest, size)?;
        self.adopt(&name).map(drop).map_err(to_layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_refuses_escapes() {
        assert_eq!(normalize("./a//b/./c"), Ok(Some("a/b/c".to_owned())));
        assert_eq!(normalize("./"), Ok(None));
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../b").is_err());
        assert!(normalize("..").is_err());
    }

    #[test]
    fn symlinks_stay_inside() {
        assert_eq!(
            resolve_symlink("a/layer.tar", "../b.tar"),
            Ok("b.tar".to_owned())
        );
        assert_eq!(resolve_symlink("a/b/x", "./y"), Ok("a/b/y".to_owned()));
        assert!(resolve_symlink("a/x", "../../etc/passwd").is_err());
        assert!(resolve_symlink("x", "/etc/passwd").is_err());
        assert!(resolve_symlink("a/x", "..").is_err());
    }
}
