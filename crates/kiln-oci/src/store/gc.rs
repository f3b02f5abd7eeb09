//! Garbage collection: what is referenced (the roots), and the sweep that
//! deletes blobs and unpacked layers that are neither referenced nor used by
//! a running process (see [`super::lease`] for the horizon).
//!
//! Under the exclusive gc lock the sweep only renames what it deletes into
//! this process's temp directory (one rename each); the slow part, removing
//! the trees, happens after the lock is released.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::gc_roots::StepRoots;
use super::index::Record;
use super::lock::Mode;
use super::remove::remove_tree;
use super::usage::tree_bytes;
use super::{io_err, list_dir, Store, StoreError, LAYER_COMPLETE};
use crate::digest::Digest;
use crate::image::ImageConfiguration;

/// What must be kept.
#[derive(Debug, Default)]
pub(crate) struct Roots {
    /// Blobs referenced by images and step-cache records.
    pub(crate) blobs: HashSet<Digest>,
    /// Diff-ids of the layers of images.
    pub(crate) diff_ids: HashSet<Digest>,
    /// Images whose manifest or config cannot be read: their blobs are unknown.
    pub(crate) unreadable: Vec<(Digest, StoreError)>,
}

impl Roots {
    /// The blobs and diff-ids of `records`.
    pub(crate) fn of_images(store: &Store, records: &[Record]) -> Roots {
        let mut roots = Roots::default();
        for rec in records {
            roots.blobs.insert(rec.manifest);
            roots.blobs.insert(rec.config);
            match image_refs(store, &rec.manifest) {
                Ok((blobs, diff_ids)) => {
                    roots.blobs.extend(blobs);
                    roots.diff_ids.extend(diff_ids);
                }
                Err(e) => roots.unreadable.push((rec.manifest, e)),
            }
        }
        roots
    }

    /// Adds the blobs of step-cache records.
    pub(crate) fn add_steps(&mut self, steps: &[StepRoots]) {
        for s in steps {
            self.blobs.extend(s.blobs.iter().copied());
        }
    }

    /// True if the unpacked layer `diff_id` belongs to a kept image (or is an
    /// uncompressed kept blob, whose digest is its diff-id).
    pub(crate) fn keeps_layer(&self, diff_id: &Digest) -> bool {
        self.diff_ids.contains(diff_id) || self.blobs.contains(diff_id)
    }
}

/// Config and layer blobs, and the diff-ids, of the image with this manifest.
pub(crate) fn image_refs(
    store: &Store,
    manifest: &Digest,
) -> Result<(Vec<Digest>, Vec<Digest>), StoreError> {
    let blobs = store.manifest_blobs(manifest)?;
    let config = blobs.first().copied().ok_or(StoreError::BlobMissing {
        manifest: *manifest,
        blob: *manifest,
    })?;
    let cfg: ImageConfiguration = store.read_blob_json(&config, crate::image::MAX_CONFIG_BYTES)?;
    let diff_ids = crate::image::diff_ids_of(&cfg, &config.to_string())?;
    Ok((blobs, diff_ids))
}

/// The modification time of `path`, if it exists.
pub(crate) fn mtime(path: &Path) -> Option<SystemTime> {
    fs::symlink_metadata(path).and_then(|m| m.modified()).ok()
}

/// When an unpacked layer was last used: its marker's mtime (set on every
/// use), or the directory's for an incomplete one.
pub(crate) fn layer_used(dir: &Path) -> Option<SystemTime> {
    mtime(&dir.join(LAYER_COMPLETE)).or_else(|| mtime(dir))
}

/// Things renamed out of the store, to be deleted after the lock is released.
#[derive(Debug)]
pub(crate) struct Trash {
    dir: PathBuf,
    items: Vec<PathBuf>,
}

impl Trash {
    pub(crate) fn new(store: &Store) -> Result<Trash, StoreError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = store.tmp_dir()?.join(format!("trash-{n}"));
        super::mkdir(&dir, 0o700)?;
        Ok(Trash {
            dir,
            items: Vec::new(),
        })
    }

    /// Moves `path` into the trash; `Ok(None)` if it was gone already.
    pub(crate) fn take(&mut self, path: &Path) -> Result<Option<usize>, StoreError> {
        let dest = self.dir.join(self.items.len().to_string());
        match fs::rename(path, &dest) {
            Ok(()) => {
                self.items.push(dest);
                Ok(Some(self.items.len() - 1))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("move out of the store", path, e)),
        }
    }

    /// Sizes of the items, then removes them all.
    pub(crate) fn empty(self) -> (Vec<u64>, Vec<StoreError>) {
        let sizes = self.items.iter().map(|p| tree_bytes(p)).collect();
        let mut failed = Vec::new();
        if let Err(e) = remove_tree(&self.dir) {
            failed.push(e);
        }
        (sizes, failed)
    }
}

/// Deletes the blobs (all in the store, or only `candidates`) that `roots`
/// does not keep and no running process has used. Returns them with sizes.
pub(crate) fn sweep_blobs(
    store: &Store,
    roots: &Roots,
    candidates: Option<&[Digest]>,
) -> Result<Vec<(Digest, u64)>, StoreError> {
    let mut trash = Trash::new(store)?;
    let mut taken = Vec::new();
    {
        let _gc = store.gc_lock(Mode::Exclusive)?;
        let horizon = store.horizon(SystemTime::now())?;
        let all;
        let list = match candidates {
            Some(c) => c,
            None => {
                all = list_blobs(store)?;
                &all[..]
            }
        };
        let mut seen = HashSet::new();
        for digest in list {
            if roots.blobs.contains(digest) || !seen.insert(*digest) {
                continue;
            }
            let path = store.blob_path(digest);
            if mtime(&path).is_some_and(|t| t < horizon) && trash.take(&path)?.is_some() {
                taken.push(*digest);
            }
        }
    }
    let (sizes, _failed) = trash.empty();
    Ok(taken.into_iter().zip(sizes).collect())
}

/// Digests of all blobs in the store (entries with other names are skipped).
pub(crate) fn list_blobs(store: &Store) -> Result<Vec<Digest>, StoreError> {
    Ok(list_dir(&store.blobs_dir())?
        .into_iter()
        .filter_map(|(name, _)| Digest::from_hex(&name))
        .collect())
}

/// Unpacked layer directories: (diff-id, path); entries whose name is not a
/// digest come with `None`.
pub(crate) fn list_layers(store: &Store) -> Result<Vec<(Option<Digest>, PathBuf)>, StoreError> {
    let dir = store.layers_dir();
    Ok(list_dir(&dir)?
        .into_iter()
        .map(|(name, path)| (Digest::from_hex(&name), path))
        .collect())
}

/// Which unpacked layers a sweep removes: those of no kept image, and with
/// `all` also the others (they are unpacked again when needed). With
/// `unused_since`, only those last used before then, but then whether an
/// image is kept does not matter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerPolicy {
    pub(crate) all: bool,
    pub(crate) unused_since: Option<SystemTime>,
}

/// Deletes unpacked layers by `policy` that no running process has used.
/// Returns (diff-id or path name, size).
pub(crate) fn sweep_layers(
    store: &Store,
    roots: &Roots,
    policy: LayerPolicy,
    chosen: Option<&HashSet<PathBuf>>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut trash = Trash::new(store)?;
    let mut taken = Vec::new();
    {
        let _gc = store.gc_lock(Mode::Exclusive)?;
        let horizon = store.horizon(SystemTime::now())?;
        for (diff_id, path) in list_layers(store)? {
            let used = layer_used(&path);
            if used.map_or(true, |t| t >= horizon) {
                continue;
            }
            let complete = path.join(LAYER_COMPLETE).is_file();
            let kept = diff_id.is_some_and(|d| roots.keeps_layer(&d));
            let by_chosen = chosen.is_some_and(|c| c.contains(&path));
            let by_policy = (!kept || policy.all || policy.unused_since.is_some())
                && policy
                    .unused_since
                    .map_or(true, |cut| used.is_some_and(|t| t < cut));
            // Incomplete directories are never used: always removed.
            if (by_chosen || by_policy || !complete) && trash.take(&path)?.is_some() {
                let name = diff_id.map_or_else(
                    || {
                        path.file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                    },
                    |d| d.to_string(),
                );
                taken.push(name);
            }
        }
    }
    let (sizes, _failed) = trash.empty();
    Ok(taken.into_iter().zip(sizes).collect())
}
