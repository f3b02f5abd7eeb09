//! Unpacked layers: `<root>/layers/sha256/<diff-id hex>/` holds `root/` (the layer's files,
//! an overlay lower directory) and `complete` (the diff-id, written last).
//!
//! The two promises of this module, and the only code that keeps them:
//!
//! - **A crash never leaves a half layer visible.** A layer is filled in a staging
//!   directory under this process's `tmp/<lease>/`, its files are synced, the marker is
//!   written, and only then is it renamed into place. A crash leaves the staging directory
//!   (removed with the dead process's temp directory by `kiln prune`) or, from older kiln
//!   versions, a directory without the marker, which is never used and is replaced by the
//!   next install.
//! - **Concurrent installs of the same layer all succeed.** Each caller fills its own
//!   staging directory; the first rename wins and the others drop their copy and use the
//!   winner's. The rename happens under the shared gc lock, so a prune cannot interleave,
//!   and a layer found or installed is marked used (its marker's mtime), so a concurrent
//!   prune keeps it while this process runs. An incomplete leftover is replaced only under
//!   the exclusive gc lock, so a complete layer is never moved aside.
//!
//! The store does not know tar: the caller fills [`StagedLayer::root`] (kiln-engine
//! extracts the layer blob there and checks its diff-id) and then calls
//! [`StagedLayer::install`].

use std::path::{Path, PathBuf};

use super::in_use::touch;
use super::lock::Mode;
use super::paths::{layer_root_in, LAYER_COMPLETE, LAYER_ROOT};
use super::{io_err, mkdir, Store, StoreError};
use crate::digest::Digest;

/// An unpacked layer being filled in this process's temp directory; dropped without
/// [`StagedLayer::install`], it is removed.
#[derive(Debug)]
pub struct StagedLayer {
    store: Store,
    diff_id: Digest,
    /// Holds the staging directory (and a stale copy moved aside) until the end.
    tmp: tempfile::TempDir,
    staged: PathBuf,
    root: PathBuf,
}

impl Store {
    /// The lower directory of the unpacked layer `diff_id` if it is installed, marked as
    /// used by this process (a concurrent prune keeps it while this process runs).
    pub fn unpacked_layer(&self, diff_id: &Digest) -> Result<Option<PathBuf>, StoreError> {
        Ok(self
            .retain_layer(diff_id)?
            .then(|| self.unpacked_layer_root(diff_id)))
    }

    /// True if the unpacked layer `diff_id` is installed (complete).
    pub fn has_unpacked_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join(LAYER_COMPLETE).is_file()
    }

    /// Where the files of the unpacked layer `diff_id` are once it is installed.
    pub fn unpacked_layer_root(&self, diff_id: &Digest) -> PathBuf {
        layer_root_in(&self.layer_dir(diff_id))
    }

    /// A new, empty staging directory for the unpacked layer `diff_id`: fill
    /// [`StagedLayer::root`], then [`StagedLayer::install`] it.
    pub fn stage_layer(&self, diff_id: &Digest) -> Result<StagedLayer, StoreError> {
        let tmp = self.temp_dir()?;
        let staged = tmp.path().join("layer");
        let root = staged.join(LAYER_ROOT);
        mkdir(&root, 0o755)?;
        Ok(StagedLayer {
            store: self.clone(),
            diff_id: *diff_id,
            tmp,
            staged,
            root,
        })
    }
}

impl StagedLayer {
    /// The directory to fill with the layer's files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Syncs the staged files, marks the layer complete and renames it into place; returns
    /// its lower directory. If another caller installed the same layer first, this copy is
    /// dropped and theirs is used (it holds the same content: same diff-id).
    pub fn install(self) -> Result<PathBuf, StoreError> {
        let store = &self.store;
        let dir = store.layer_dir(&self.diff_id);
        let installed = layer_root_in(&dir);
        let marker = self.staged.join(LAYER_COMPLETE);
        std::fs::write(&marker, format!("{}\n", self.diff_id))
            .map_err(|e| io_err("write", &marker, e))?;
        store.sync_staged(&self.staged)?;
        mkdir(&store.layers_dir(), 0o700)?;
        let installing = store.install_guard()?;
        // Another caller finished first: theirs is as good as ours (marked used here).
        let theirs = || touch(&dir.join(LAYER_COMPLETE)).unwrap_or(false);
        match std::fs::rename(&self.staged, &dir) {
            Ok(()) => return Ok(installed),
            Err(_) if theirs() => return Ok(installed),
            Err(e) if !dir.exists() => return Err(io_err("rename into place", &dir, e)),
            Err(_) => {}
        }
        // A leftover without the marker (a crash of an older kiln): replace it, alone, so
        // that a complete layer another caller renames into place meanwhile (and may be
        // using already) is never moved aside.
        drop(installing);
        let _alone = store.gc_lock(Mode::Exclusive)?;
        if theirs() {
            return Ok(installed);
        }
        if dir.exists() {
            let junk = self.tmp.path().join("stale");
            std::fs::rename(&dir, &junk)
                .map_err(|e| io_err("move aside the incomplete", &dir, e))?;
        }
        std::fs::rename(&self.staged, &dir).map_err(|e| io_err("rename into place", &dir, e))?;
        Ok(installed)
    }
}
