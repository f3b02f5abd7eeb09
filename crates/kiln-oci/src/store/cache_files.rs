//! Small cache files the store keeps for other parts of kiln, each kind in its own
//! directory under `<root>/cache/`. Losing one only costs work (re-hashing a context file,
//! compressing a layer again), so reads are forgiving: a missing, unreadable or oversized
//! file reads as none. Writes are atomic (a temp file in the same directory, renamed over).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{io_err, mkdir, Store, StoreError};

/// Which cache a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheArea {
    /// The build context stat cache: content digests of context files by their stat.
    ContextStat,
    /// Which compressed blob a layer gave the last time it was exported.
    CompressedLayers,
    /// Content digests of the paths a step reads from an earlier stage, by that stage's
    /// layers and the paths.
    SourceDigests,
    /// The Dockerfile lines of a built image's layers and history, by image ID.
    BuildRecords,
}

impl CacheArea {
    const ALL: [CacheArea; 4] = [
        CacheArea::ContextStat,
        CacheArea::CompressedLayers,
        CacheArea::SourceDigests,
        CacheArea::BuildRecords,
    ];

    /// The directory name under `<root>/cache/`.
    fn dir_name(self) -> &'static str {
        match self {
            CacheArea::ContextStat => "stat",
            CacheArea::CompressedLayers => "compressed",
            CacheArea::SourceDigests => "sources",
            CacheArea::BuildRecords => "builds",
        }
    }
}

/// The prefix of a writer's temp files.
const TEMP_PREFIX: &str = ".tmp-";

/// Names stay inside their directory: no separators, no `.`/`..`, no dot files (the
/// writer's temp files are dot files).
fn check_name(area: CacheArea, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::CacheName {
            area: area.dir_name(),
            name: name.to_owned(),
        })
    }
}

impl Store {
    /// The cache file `name` of `area`, if it exists, can be read and is at most
    /// `max_bytes` long.
    pub fn read_cache_file(&self, area: CacheArea, name: &str, max_bytes: u64) -> Option<Vec<u8>> {
        check_name(area, name).ok()?;
        let path = self.cache_area_dir(area.dir_name()).join(name);
        let file = std::fs::File::open(path).ok()?;
        let mut bytes = Vec::new();
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .ok()?;
        (bytes.len() as u64 <= max_bytes).then_some(bytes)
    }

    /// Replaces the cache file `name` of `area` with `bytes`, atomically.
    pub fn write_cache_file(
        &self,
        area: CacheArea,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        check_name(area, name)?;
        let dir = self.cache_area_dir(area.dir_name());
        mkdir(&dir, 0o700)?;
        let path = dir.join(name);
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| io_err("create a temporary file in", &dir, e))?;
        tmp.write_all(bytes)
            .map_err(|e| io_err("write", tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| io_err("rename into place", &path, e.error))?;
        Ok(())
    }
}

impl Store {
    /// For prune: removes the cache files last written when `drop` says so (by their
    /// modification time), except the build records of the images in `images` (config
    /// digests in hex: a record lives as long as its image, and goes with it), and temp
    /// files writers left behind when they died. Gives what was removed with its size, and what could not be.
    pub(crate) fn prune_cache_files(
        &self,
        drop: impl Fn(SystemTime) -> bool,
        now: SystemTime,
        images: &std::collections::HashSet<String>,
    ) -> (Vec<(PathBuf, u64)>, Vec<String>) {
        let (mut removed, mut problems) = (Vec::new(), Vec::new());
        for area in CacheArea::ALL {
            let dir = self.cache_area_dir(area.dir_name());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                let written = meta.modified().unwrap_or(now);
                let name = entry.file_name();
                let left_temp = name.to_string_lossy().starts_with(TEMP_PREFIX)
                    && super::gc_roots::writer_gone(written, now);
                let record = area == CacheArea::BuildRecords;
                let image_lives = record && images.contains(&*name.to_string_lossy());
                // A record outlives its image only while a build may still be storing both.
                let orphan = record && !image_lives && super::gc_roots::writer_gone(written, now);
                if !meta.is_file() || image_lives || !(left_temp || orphan || drop(written)) {
                    continue;
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed.push((entry.path(), meta.len())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => problems.push(io_err("remove", &entry.path(), e).to_string()),
                }
            }
        }
        (removed, problems)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cache_files_round_trip_and_refuse_escaping_names() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let area = CacheArea::ContextStat;
        assert_eq!(store.read_cache_file(area, "v2-abc", 100), None);
        store.write_cache_file(area, "v2-abc", b"one").unwrap();
        store.write_cache_file(area, "v2-abc", b"two").unwrap();
        assert_eq!(store.read_cache_file(area, "v2-abc", 100).unwrap(), b"two");
        assert!(t.path().join("cache/stat/v2-abc").is_file());
        // Over the cap reads as none; the other area is separate.
        assert_eq!(store.read_cache_file(area, "v2-abc", 2), None);
        assert_eq!(
            store.read_cache_file(CacheArea::CompressedLayers, "v2-abc", 100),
            None
        );
        for bad in ["", ".hidden", "../x", "a/b", "..", "a b"] {
            let e = store.write_cache_file(area, bad, b"x").unwrap_err();
            assert!(e.to_string().contains("not a valid name"), "{bad:?}: {e}");
            assert_eq!(e.kind(), crate::ErrorKind::Internal);
            assert_eq!(store.read_cache_file(area, bad, 100), None);
        }
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(t.path().join("cache/stat"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("v2-abc")]);
    }
}
