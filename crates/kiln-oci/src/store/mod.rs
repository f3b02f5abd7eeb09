//! The embedded content-addressed image store. It owns every file under its root (see
//! `paths.rs` for the layout): blobs, image records, unpacked layers, step records, the
//! context stat cache, cache mounts and temp directories are created, installed, verified
//! and pruned only through [`Store`]'s methods.
//!
//! Several kiln processes may share a store. Blobs and unpacked layers appear
//! atomically by rename, so concurrent writers of the same content are
//! harmless; `images.json` changes happen under the exclusive `lock`.
//! Deleting (prune, rmi, verify --repair) takes `gc.lock` exclusively and
//! removes only what is unreferenced *and* older than every running
//! process's lease (see `lease.rs`): a running build sets the mtime of every
//! blob and unpacked layer it adds or reuses, so nothing it may still
//! reference is collected, and builds never wait for a prune (nor a prune for
//! a build) longer than one rename.

mod blobs;
mod build_records;
mod cache_files;
mod cache_mounts;
mod error;
mod find;
mod gc;
mod gc_roots;
mod images;
mod in_use;
mod index;
mod layers;
mod lease;
mod lock;
mod open;
mod paths;
mod prune;
mod remove;
mod usage;
mod verify;

pub use blobs::BlobWriter;
pub use build_records::{BuildRecord, LayerLine};
pub use cache_files::CacheArea;
pub use cache_mounts::{CacheMount, CacheMountInit, CacheMountUse, CacheMountsPruned};
pub use error::{IndexProblem, StoreError};
pub use find::MIN_ID_PREFIX;
pub use gc_roots::{BadStepRecord, StepRoots};
pub use images::{Removed, StoredImage};
pub use layers::StagedLayer;
pub use lease::StaleTemp;
pub use prune::{PruneOptions, PruneReport};
pub use usage::{Usage, UsageRow};
pub use verify::{Finding, Severity, VerifyReport};
pub mod step_cache;

pub use step_cache::{CachedLayer, StepCache, StepRecord};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) use error::{io_err, sync_dir};
use lease::Lease;
use lock::StoreLock;
pub(crate) use open::{list_dir, mkdir};
pub(crate) use paths::LAYER_COMPLETE;

/// An open image store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    /// This process's lease, taken on the first write (see [`lease`]).
    lease: Arc<Mutex<Option<Lease>>>,
}

impl Store {
    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock around `images.json`.
    fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.index_lock_path();
        StoreLock::acquire(&path).map_err(|e| io_err("lock", &path, e))
    }

    /// A new temp directory inside this process's `<root>/tmp/<lease>/`, removed on drop.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.tmp_dir()?;
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(&tmp)
            .map_err(|e| io_err("create a temporary directory in", &tmp, e))
    }
}
