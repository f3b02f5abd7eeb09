//! What a running process uses: its lease and temp directory, and the marks
//! (mtime updates, under the shared gc lock) on blobs and unpacked layers it
//! adds or reuses, which keep them from a concurrent prune (see `lease.rs`).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::lease::{self, Lease};
use super::lock::{Mode, StoreLock};
use super::paths::LAYER_COMPLETE;
use super::{io_err, Store, StoreError};
use crate::digest::Digest;

/// Held while an unpacked layer directory is renamed into place, so that a
/// concurrent prune cannot interleave; see [`Store::install_guard`].
#[derive(Debug)]
pub(crate) struct InstallGuard {
    _lock: StoreLock,
}

/// Sets `path`'s mtime to now: marks a blob or layer as used by a running
/// process. `Ok(false)` if it does not exist.
pub(crate) fn touch(path: &Path) -> Result<bool, StoreError> {
    use rustix::fs::{Timespec, Timestamps, UTIME_NOW, UTIME_OMIT};
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
    };
    match rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(io_err("update the time of", path, e.into())),
    }
}

impl Store {
    /// This process's temp directory `<root>/tmp/<lease>/`, taking the lease
    /// on first use.
    pub(crate) fn tmp_dir(&self) -> Result<PathBuf, StoreError> {
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = lease.as_ref() {
            return Ok(l.tmp().to_owned());
        }
        let l = Lease::take(&self.root)?;
        let tmp = l.tmp().to_owned();
        *lease = Some(l);
        Ok(tmp)
    }

    /// The collection horizon for this process (see [`lease::horizon`]).
    pub(crate) fn horizon(
        &self,
        now: std::time::SystemTime,
    ) -> Result<std::time::SystemTime, StoreError> {
        let lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        let own = lease.as_ref().and_then(|l| l.id());
        lease::horizon(&self.root, own, now)
    }

    /// Takes this process's lease now (it is otherwise taken on the first
    /// write). A build takes it before reading anything it will reuse, so
    /// that a concurrent prune keeps what the build may still reference.
    pub fn take_lease(&self) -> Result<(), StoreError> {
        self.tmp_dir().map(drop)
    }

    pub(crate) fn gc_lock(&self, mode: Mode) -> Result<StoreLock, StoreError> {
        let path = self.gc_lock_path();
        StoreLock::acquire_mode(&path, mode).map_err(|e| io_err("lock", &path, e))
    }

    /// A guard to hold while renaming an unpacked layer directory into
    /// [`Store::layer_dir`] (prune waits for it, and it for prune).
    pub(crate) fn install_guard(&self) -> Result<InstallGuard, StoreError> {
        self.take_lease()?;
        Ok(InstallGuard {
            _lock: self.gc_lock(Mode::Shared)?,
        })
    }

    /// Writes everything under `staged` (an unpacked layer about to be renamed
    /// into place) to disk: `syncfs` of its file system, so that after a power
    /// loss a layer with a `complete` marker has all its files.
    pub(crate) fn sync_staged(&self, staged: &Path) -> Result<(), StoreError> {
        let dir = File::open(staged).map_err(|e| io_err("open", staged, e))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_err("sync the file system of", staged, e.into()))
    }

    /// Marks the unpacked layer as used by this process, if it is complete:
    /// `Ok(true)` means it is there and will not be pruned while this
    /// process runs.
    pub(crate) fn retain_layer(&self, diff_id: &Digest) -> Result<bool, StoreError> {
        self.take_lease()?;
        let _gc = self.gc_lock(Mode::Shared)?;
        touch(&self.layer_dir(diff_id).join(LAYER_COMPLETE))
    }

    /// Marks a blob as used by this process: `Ok(true)` means it is there and
    /// will not be pruned while this process runs.
    pub fn retain_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.take_lease()?;
        let _gc = self.gc_lock(Mode::Shared)?;
        touch(&self.blob_path(digest))
    }

    /// Marks an image's manifest, config and layer blobs as used by this
    /// process (a build's base image), so that a concurrent `rmi` + prune
    /// does not take them away before the build has referenced them.
    pub fn retain_image(&self, manifest: &Digest) -> Result<(), StoreError> {
        self.take_lease()?;
        let mut blobs = vec![*manifest];
        blobs.extend(self.manifest_blobs(manifest)?);
        let _gc = self.gc_lock(Mode::Shared)?;
        for blob in blobs {
            if !touch(&self.blob_path(&blob))? {
                return Err(StoreError::BlobMissing {
                    manifest: *manifest,
                    blob,
                });
            }
        }
        Ok(())
    }
}
