//! Where everything lives under the store root: the one place that spells a store path.
//! Other crates reach these files only through [`Store`]'s methods.
//!
//! ```text
//! <root>/blobs/sha256/<hex>          blobs, written temp + fsync + rename; never edited
//! <root>/images.json                 image records, rewritten atomically under `lock`
//! <root>/lock                        flock: exclusive while images.json is read, changed, rewritten
//! <root>/gc.lock                     flock: shared while blobs and layers are added or reused,
//!                                    exclusive while anything is deleted
//! <root>/leases/<pid>-<rand>         one per running kiln process, flock'd while it runs
//! <root>/tmp/<pid>-<rand>/           that process's temp files and staged layers (same file system)
//! <root>/layers/sha256/<hex>/        unpacked layers by diff-id: root/ and `complete`
//! <root>/cache/steps/<hex>.json      step-cache records (their `blobs` are kept by prune)
//! <root>/cache/stat/                 the build context stat cache
//! <root>/cache/compressed/           which compressed blob a layer gave when exported
//! <root>/cache/sources/              content digests of the paths steps read from stages
//! <root>/cache/builds/<image hex>    the Dockerfile lines of a built image's layers and history
//! <root>/cache-mounts/<key>/         RUN --mount=type=cache directories
//! ```

use std::path::{Path, PathBuf};

use super::Store;
use crate::digest::Digest;

/// Blobs, by algorithm then hex digest.
const BLOBS: &str = "blobs/sha256";
/// The image records.
const INDEX: &str = "images.json";
/// The lock around `images.json`.
const INDEX_LOCK: &str = "lock";
/// The lock between writers (shared) and deleters (exclusive).
const GC_LOCK: &str = "gc.lock";
/// Per-process temp directories.
pub(crate) const TMP: &str = "tmp";
/// Unpacked layers, by diff-id.
const LAYERS: &str = "layers/sha256";
/// Step-cache records.
pub(crate) const STEPS: &str = "cache/steps";
/// Small caches kept for other parts of kiln (see [`CacheArea`](super::CacheArea)).
const CACHE: &str = "cache";
/// RUN --mount=type=cache directories.
const CACHE_MOUNTS: &str = "cache-mounts";
/// The VM tier's files (the guest kernel unpacked, the initramfs), kept by kiln-vm.
const VM: &str = "vm";

/// File in an unpacked layer directory that marks it complete; it holds the
/// diff-id and is written last, before the directory is renamed into place.
pub(crate) const LAYER_COMPLETE: &str = "complete";
/// The unpacked tree inside an unpacked layer directory (an overlay lower directory).
pub(crate) const LAYER_ROOT: &str = "root";

impl Store {
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join(BLOBS)
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join(INDEX)
    }

    pub(crate) fn index_lock_path(&self) -> PathBuf {
        self.root.join(INDEX_LOCK)
    }

    pub(crate) fn gc_lock_path(&self) -> PathBuf {
        self.root.join(GC_LOCK)
    }

    pub(crate) fn tmp_root(&self) -> PathBuf {
        self.root.join(TMP)
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join(LAYERS)
    }

    /// The directory of the unpacked layer with this diff-id (not created here); for
    /// reports and tests: use it only through [`Store::unpacked_layer`] and
    /// [`Store::stage_layer`].
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(diff_id.hex())
    }

    /// Where step-cache records live.
    pub(crate) fn step_cache_dir(&self) -> PathBuf {
        self.root.join(STEPS)
    }

    pub(crate) fn cache_area_dir(&self, sub: &str) -> PathBuf {
        self.root.join(CACHE).join(sub)
    }

    /// Where RUN --mount=type=cache directories live.
    pub(crate) fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join(CACHE_MOUNTS)
    }

    /// Where `--isolation vm` keeps the guest kernel and initramfs it made (kiln-vm names
    /// and replaces the files inside).
    pub fn vm_dir(&self) -> PathBuf {
        self.root.join(VM)
    }

    /// The directories [`Store::open`] creates.
    pub(crate) fn skeleton(&self) -> [PathBuf; 3] {
        [self.blobs_dir(), self.layers_dir(), self.tmp_root()]
    }
}

/// The lower directory inside an unpacked layer directory.
pub(crate) fn layer_root_in(layer_dir: &Path) -> PathBuf {
    layer_dir.join(LAYER_ROOT)
}
