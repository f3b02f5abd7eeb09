//! `kiln df`: what the store holds and what `kiln prune` would reclaim.
//!
//! Sizes are disk space (allocated blocks), hard links counted once.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::gc::{self, Roots};
use super::{lease, Store, StoreError, LAYER_COMPLETE};
use crate::digest::Digest;

/// Disk space of a file or a whole tree (not following symlinks, each
/// hard-linked inode once); unreadable parts count as nothing.
pub(crate) fn tree_bytes(path: &Path) -> u64 {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// One line of `kiln df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// How many there are.
    pub count: u64,
    /// How many are in use (tagged images, layers of kept images, temp
    /// directories of running processes).
    pub active: u64,
    /// Disk space.
    pub bytes: u64,
    /// What `kiln prune` (without `--all`) would free.
    pub reclaimable: u64,
}

/// What the store holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    /// Image records; bytes are the unique blobs of all images; reclaimable
    /// is what only untagged images use.
    pub images: UsageRow,
    /// Step-cache records; bytes are the blobs only the step cache uses.
    pub step_cache: UsageRow,
    /// Blobs nothing references.
    pub unused_blobs: UsageRow,
    /// Unpacked layers (overlay lower directories).
    pub unpacked_layers: UsageRow,
    /// RUN --mount=type=cache directories.
    pub cache_mounts: UsageRow,
    /// Temp directories; reclaimable are those of ended processes.
    pub temp: UsageRow,
    /// Everything under the store root.
    pub total_bytes: u64,
}

impl Store {
    /// Measures the store for `kiln df`.
    pub fn usage(&self) -> Result<Usage, StoreError> {
        let records = self.records()?;
        let (steps, _bad) = self.step_records()?;
        let mut sizes: HashMap<Digest, u64> = HashMap::new();
        for d in gc::list_blobs(self)? {
            if let Ok(m) = fs::symlink_metadata(self.blob_path(&d)) {
                sizes.insert(d, m.blocks() * 512);
            }
        }
        let size_of = |set: &HashSet<Digest>| set.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
        let mut u = Usage::default();
        // Images: all, tagged, and what only untagged ones use.
        let tagged: Vec<_> = records
            .iter()
            .filter(|r| !r.names.is_empty())
            .cloned()
            .collect();
        let all_roots = Roots::of_images(self, &records);
        let mut kept = Roots::of_images(self, &tagged);
        kept.add_steps(&steps);
        u.images = UsageRow {
            count: records.len() as u64,
            active: tagged.len() as u64,
            bytes: size_of(&all_roots.blobs),
            reclaimable: size_of(&all_roots.blobs.difference(&kept.blobs).copied().collect()),
        };
        let step_only: HashSet<Digest> = steps
            .iter()
            .flat_map(|s| s.blobs.iter().copied())
            .filter(|d| !all_roots.blobs.contains(d))
            .collect();
        let record_bytes: u64 = steps.iter().map(|s| s.bytes).sum();
        u.step_cache = UsageRow {
            count: steps.len() as u64,
            active: 0,
            bytes: size_of(&step_only) + record_bytes,
            reclaimable: 0,
        };
        let mut every = all_roots.blobs.clone();
        every.extend(step_only.iter().copied());
        let unused: HashSet<Digest> = sizes
            .keys()
            .filter(|d| !every.contains(d))
            .copied()
            .collect();
        u.unused_blobs = UsageRow {
            count: unused.len() as u64,
            active: 0,
            bytes: size_of(&unused),
            reclaimable: size_of(&unused),
        };
        for (diff_id, path) in gc::list_layers(self)? {
            let bytes = tree_bytes(&path);
            let complete = path.join(LAYER_COMPLETE).is_file();
            let in_use = complete && diff_id.is_some_and(|d| kept.keeps_layer(&d));
            u.unpacked_layers.count += 1;
            u.unpacked_layers.bytes += bytes;
            if in_use {
                u.unpacked_layers.active += 1;
            } else {
                u.unpacked_layers.reclaimable += bytes;
            }
        }
        let mounts = self.cache_mounts_dir();
        if let Ok(entries) = fs::read_dir(&mounts) {
            u.cache_mounts.count = entries.count() as u64;
            u.cache_mounts.bytes = tree_bytes(&mounts);
        }
        let tmp = self.tmp_root();
        let stale = lease::stale_temps(self.root())?;
        let entries = fs::read_dir(&tmp).map(|e| e.count() as u64).unwrap_or(0);
        u.temp = UsageRow {
            count: entries,
            active: entries.saturating_sub(stale.len() as u64),
            bytes: tree_bytes(&tmp),
            reclaimable: stale.iter().map(|s| s.bytes).sum(),
        };
        u.total_bytes = tree_bytes(self.root());
        Ok(u)
    }
}
