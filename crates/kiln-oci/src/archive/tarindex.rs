//! Indexes a hostile tar stream into temp files inside the store: each regular
//! file is streamed to `<root>/tmp/work-*/entry-*` while its sha256 is
//! computed, and recorded under its normalised archive name. Nothing is ever
//! written to a path taken from the archive.
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
        // The `tar` crate, not kiln-layer's reader (tar_read.rs), for two reasons. Structural:
        // kiln-layer depends on kiln-oci (digests, store), so kiln-oci cannot call it. And the
        // archive case needs less of it: kiln's reader is built for layers that are
        // extracted into a root filesystem, so it caps PAX and GNU long-name headers at 1 MiB
        // and 64 KiB (the crate reads them whole into memory), flags GNU sparse PAX keys and
        // hands modes, owners, xattrs and devices to the extractor. Here nothing is
        // extracted: names are normalised map keys (`normalize`), regular files stream into
        // the store's temp dir and are hashed, links become aliases inside the archive,
        // every other type is refused, at most MAX_ENTRIES entries, and every blob is
        // verified against its digest before the store adopts it. What the crate still
        // gets wrong for a hostile archive is memory: one long-name or PAX member is held
        // whole (bounded by the archive's size, not by a cap).
        let mut archive = tar::Archive::new(reader);
        let read_err = |location: &str, source: io::Error| ArchiveError::Read {
            location: location.to_owned(),
            source,
        };
        let entries = archive
            .entries()
            .map_err(|e| read_err(&index.location, e))?;
        for (n, entry) in entries.enumerate() {
            if n >= MAX_ENTRIES {
                return Err(ArchiveError::TooManyEntries {
                    location: index.location.clone(),
                    max: MAX_ENTRIES,
                });
            }
            let mut entry = entry.map_err(|e| read_err(&index.location, e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let entry_err = |reason: &str| ArchiveError::EntryPath {
                location: index.location.clone(),
                entry: raw.chars().take(300).collect(),
                reason: reason.to_owned(),
            };
            if std::str::from_utf8(&entry.path_bytes()).is_err() {
                return Err(entry_err("is not valid UTF-8"));
            }
            let name = normalize(&raw).map_err(entry_err)?;
            let kind = entry.header().entry_type();
            let Some(name) = name else {
                if kind.is_dir() {
                    continue;
                }
                return Err(entry_err("names the archive root but is not a directory"));
            };
            if index.files.contains_key(&name) || index.links.contains_key(&name) {
                if kind.is_dir() {
                    continue;
                }
                return Err(ArchiveError::Duplicate {
                    location: index.location.clone(),
                    entry: name,
                });
            }
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let (file, temp) = tempfile::Builder::new()
                        .prefix("entry-")
                        .tempfile_in(index._dir.path())
                        .map_err(|e| ArchiveError::Io {
                            action: "create a temporary file in",
                            path: index._dir.path().to_owned(),
                            source: e,
                        })?
                        .into_parts();
                    let mut writer =
                        DigestWriter::new(io::BufWriter::with_capacity(256 << 10, file));
                    io::copy(&mut entry, &mut writer).map_err(|e| read_err(&index.location, e))?;
                    let (buffered, digest, size) = writer.finish();
                    buffered.into_inner().map_err(|e| ArchiveError::Io {
                        action: "write",
                        path: temp.to_path_buf(),
                        source: e.into_error(),
                    })?;
                    index.files.insert(
                        name,
                        FileEntry {
                            temp: Some(temp),
                            digest,
                            size,
                        },
                    );
                }
                tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target_bytes = entry.link_name_bytes().unwrap_or_default().into_owned();
                    let target = String::from_utf8_lossy(&target_bytes).into_owned();
                    let link_err = |reason: &str| ArchiveError::Link {
                        location: index.location.clone(),
                        entry: name.clone(),
                        target: target.chars().take(300).collect(),
                        reason: reason.to_owned(),
                    };
                    if std::str::from_utf8(&target_bytes).is_err() {
                        return Err(link_err("target is not valid UTF-8"));
                    }
                    let resolved = if kind == tar::EntryType::Symlink {
                        resolve_symlink(&name, &target).map_err(link_err)?
                    } else {
                        normalize(&target)
                            .map_err(link_err)?
                            .ok_or_else(|| link_err("points to the archive root"))?
                    };
                    index.links.insert(name, resolved);
                }
                other => {
                    return Err(ArchiveError::UnsupportedEntry {
                        location: index.location.clone(),
                        entry: name,
                        kind: format!("{other:?}"),
                    })
                }
            }
        }
        Ok(index)
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
