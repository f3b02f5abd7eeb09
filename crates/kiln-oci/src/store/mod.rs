//! The embedded content-addressed image store.
//!
//! ```text
//! <root>/blobs/sha256/<hex>      blobs, written temp + fsync + rename; never edited
//! <root>/images.json             image records, rewritten atomically under `lock`
//! <root>/lock                    flock: exclusive while images.json is read, changed, rewritten
//! <root>/gc.lock                 flock: shared while blobs and layers are added or reused,
//!                                exclusive while anything is deleted
//! <root>/leases/<pid>-<rand>     one per running kiln process, flock'd while it runs
//! <root>/tmp/<pid>-<rand>/       that process's temp files (same file system)
//! <root>/layers/sha256/<hex>/    unpacked layers by diff-id: root/ and `complete`
//! <root>/cache/steps/<hex>.json  step-cache records (their `blobs` are kept by prune)
//! <root>/cache-mounts/           RUN --mount=type=cache directories
//! <root>/cache/stat/             the build context stat cache (written by the engine)
//! ```
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
mod gc;
mod gc_roots;
mod in_use;
mod index;
mod lease;
mod lock;
mod prune;
mod remove;
mod usage;
mod verify;

pub use blobs::BlobWriter;
pub use gc_roots::{BadStepRecord, StepRoots};
pub use in_use::InstallGuard;
pub use lease::StaleTemp;
pub use prune::{PruneOptions, PruneReport};
pub use usage::{Usage, UsageRow};
pub use verify::{Finding, Severity, VerifyReport};
pub mod step_cache;

pub use step_cache::{CachedLayer, StepCache, StepRecord};

use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::digest::Digest;
use crate::image::{
    self, descriptor_digest, Image, ImageConfiguration, ImageError, ImageManifest, LayerRef,
    MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES,
};
use crate::reference::{Reference, ReferenceError};
use index::Record;
use lease::Lease;
use lock::StoreLock;

/// File in an unpacked layer directory that marks it complete; it holds the
/// diff-id and is written last, before the directory is renamed into place.
pub const LAYER_COMPLETE: &str = "complete";

/// Shortest hex prefix accepted as an image ID (like Docker's short IDs).
pub const MIN_ID_PREFIX: usize = 12;

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// Content does not match its expected digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}; the content is corrupt or was tampered with")]
    DigestMismatch {
        /// What was verified.
        what: String,
        /// The expected digest.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// A blob is not in the store.
    #[error("blob {digest} not found in the store (expected at {})", path.display())]
    BlobNotFound {
        /// The missing blob.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// Content exceeds a size cap.
    #[error("{what} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A JSON blob does not parse.
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    Json {
        /// The blob.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// `images.json` is unreadable.
    #[error("image index {} is corrupt: {reason}; restore it from a backup or delete it to start over (blobs are kept)", path.display())]
    CorruptIndex {
        /// Path of images.json.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store root belongs to another user, who could plant links in it.
    #[error("store root {} belongs to uid {owner}, not to uid {me} that runs kiln: that user could plant symlinks in it (cache mounts, layers) that the build then follows; use a directory you own (--root DIR)", path.display())]
    ForeignRoot {
        /// The store root.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// No image has that name, digest or ID.
    #[error("no such image: {0}; list images with `kiln images`")]
    ImageNotFound(String),
    /// An ID prefix matches several images.
    #[error(
        "image ID prefix {prefix:?} is ambiguous: it matches {count} images; give more hex digits"
    )]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// A name to tag with has no tag.
    #[error("cannot tag with {0}: the name needs a tag (e.g. {name}:latest), not only a digest", name = .0.name())]
    TagRequired(Reference),
    /// An image needs a blob the store does not have.
    #[error("image {manifest} needs blob {blob}, which is not in the store (a concurrent `rmi` may have removed it); retry the operation")]
    BlobMissing {
        /// The image's manifest digest.
        manifest: Digest,
        /// The missing blob.
        blob: Digest,
    },
    /// The name or ID given is neither a valid reference nor an ID.
    #[error("{input:?} is neither an image name nor an image ID: {source}")]
    BadName {
        /// The input.
        input: String,
        /// Why it is not a reference.
        source: Box<ReferenceError>,
    },
    /// A directory to remove has a mount inside.
    #[error("cannot remove {}: {} is mounted inside it (left by a killed build); unmount it with `umount -l {}` and run `kiln prune` again", path.display(), mount.display(), mount.display())]
    MountInside {
        /// The directory.
        path: PathBuf,
        /// The mount point.
        mount: PathBuf,
    },
    /// Image metadata is inconsistent.
    #[error(transparent)]
    Image(#[from] ImageError),
}

pub(crate) fn io_err(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir, e))
}

/// An image record: manifest, config (the image ID) and names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    /// Digest of the manifest blob.
    pub manifest: Digest,
    /// Digest of the config blob: the image ID shown to users.
    pub config: Digest,
    /// Names (normalised, tagged), in the order they were given.
    pub names: Vec<Reference>,
    /// When the image entered this store, RFC 3339 UTC.
    pub created: String,
}

impl StoredImage {
    /// The short image ID: the first 12 hex digits of the config digest.
    pub fn short_id(&self) -> String {
        self.config.hex().chars().take(MIN_ID_PREFIX).collect()
    }
}

/// What [`Store::remove`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Names removed.
    pub untagged: Vec<Reference>,
    /// The image record deleted, if no names remained (or it was removed by ID).
    pub deleted: Option<StoredImage>,
    /// Blobs deleted because no remaining image referenced them.
    pub blobs_deleted: Vec<Digest>,
}

/// An open image store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    /// This process's lease, taken on the first write (see [`lease`]).
    lease: Arc<Mutex<Option<Lease>>>,
}

/// The entries of `dir` as (name, path), sorted by name; none if `dir` does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Refuse a root another user owns; take group and other permissions off ours.
fn private_root(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(root).map_err(|e| io_err("inspect the store root", root, e))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StoreError::ForeignRoot {
            path: root.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        let private = std::fs::Permissions::from_mode(meta.mode() & 0o7700);
        std::fs::set_permissions(root, private)
            .map_err(|e| io_err("make the store root private (chmod 0700)", root, e))?;
    }
    Ok(())
}

pub(crate) fn mkdir(path: &Path, mode: u32) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| io_err("create directory", path, e))
}

impl Store {
    /// Opens (creating if needed) the store at `root`. A new root gets mode 0700; an
    /// existing one must belong to kiln's user and is made 0700 (a memory-backed
    /// Kubernetes `emptyDir` starts 0777: another user must not reach into the store).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        if !root.exists() {
            mkdir(root, 0o700)?;
        }
        private_root(root)?;
        let store = Store {
            root: root.to_owned(),
            lease: Arc::new(Mutex::new(None)),
        };
        for dir in [
            store.blobs_dir(),
            store.root.join("layers").join("sha256"),
            store.root.join("tmp"),
        ] {
            mkdir(&dir, 0o700)?;
        }
        // Make sure the lock file exists so readers of the layout see it.
        drop(store.lock()?);
        Ok(store)
    }

    /// The default store location: `/var/lib/kiln` for root, else
    /// `$XDG_DATA_HOME/kiln` or `~/.local/share/kiln` (or
    /// `<tmp>/kiln-<uid>` if no home directory is known).
    pub fn default_root() -> PathBuf {
        let uid = rustix::process::getuid();
        if uid.is_root() {
            return PathBuf::from("/var/lib/kiln");
        }
        let from_env = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        if let Some(data) = from_env("XDG_DATA_HOME") {
            return data.join("kiln");
        }
        if let Some(home) = from_env("HOME") {
            return home.join(".local").join("share").join("kiln");
        }
        std::env::temp_dir().join(format!("kiln-{}", uid.as_raw()))
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.root.join("lock");
        StoreLock::acquire(&path).map_err(|e| io_err("lock", &path, e))
    }

    /// The directory for the unpacked layer with this diff-id (not created here).
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join("sha256").join(diff_id.hex())
    }

    /// A new temp directory inside this process's `<root>/tmp/<lease>/`, removed on drop.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.tmp_dir()?;
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(&tmp)
            .map_err(|e| io_err("create a temporary directory in", &tmp, e))
    }

    fn records(&self) -> Result<Vec<Record>, StoreError> {
        index::read(&self.index_path())
    }

    fn save_records(&self, records: &[Record]) -> Result<(), StoreError> {
        index::write(&self.index_path(), &self.tmp_dir()?, records)
    }

    /// All images, in the order they entered the store.
    pub fn images(&self) -> Result<Vec<StoredImage>, StoreError> {
        let path = self.index_path();
        self.records()?.iter().map(|r| r.to_stored(&path)).collect()
    }

    /// Writes `config` and an OCI manifest for it and `layers`, and records the
    /// image (without names; see [`Store::tag`]). The config's `rootfs` is set
    /// from the layers' diff-ids. Both are written as canonical JSON, so equal
    /// inputs give equal digests. The layer blobs must already be in the store.
    pub fn put_image(
        &self,
        config: &ImageConfiguration,
        layers: &[LayerRef],
    ) -> Result<Image, StoreError> {
        let mut config = config.clone();
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id).collect();
        image::set_diff_ids(&mut config, &diff_ids);
        self.put_image_json(&config, layers)
    }

    /// Writes an image whose config is any serialisable superset of the OCI config (for
    /// example with Docker's `Healthcheck`, `OnBuild` and `Shell` fields, which the OCI
    /// types drop). The config must already list the layers' diff-ids.
    pub fn put_image_json<T: serde::Serialize>(
        &self,
        config: &T,
        layers: &[LayerRef],
    ) -> Result<Image, StoreError> {
        let config_bytes =
            crate::json::to_canonical_vec(config).map_err(|source| StoreError::Json {
                what: "image config".to_owned(),
                source,
            })?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|source| StoreError::Json {
                what: "image config".to_owned(),
                source,
            })?;
        let (config_digest, config_size) = self.put_blob(&config_bytes)?;
        let manifest = image::oci_manifest(config_digest, config_size, layers)?;
        let manifest_bytes =
            crate::json::to_canonical_vec(&manifest).map_err(|source| StoreError::Json {
                what: "image manifest".to_owned(),
                source,
            })?;
        let (manifest_digest, _) = self.put_blob(&manifest_bytes)?;
        let image = Image {
            manifest_digest,
            manifest,
            config_digest,
            config,
        };
        self.record(&image, &[], Some((&config_bytes, &manifest_bytes)))?;
        Ok(image)
    }

    /// Records an image whose manifest, config and layer blobs are all in the
    /// store, and gives it `names` (moving them from other images).
    pub fn register_image(
        &self,
        manifest: &Digest,
        names: &[Reference],
    ) -> Result<StoredImage, StoreError> {
        let image = self.load_image(manifest)?;
        self.record(&image, names, None)
    }

    /// Adds the record under the lock, checking (and if given, rewriting)
    /// the blobs, so a concurrent `remove` cannot leave it dangling.
    fn record(
        &self,
        image: &Image,
        names: &[Reference],
        rewrite: Option<(&[u8], &[u8])>,
    ) -> Result<StoredImage, StoreError> {
        for name in names {
            if name.tag.is_none() {
                return Err(StoreError::TagRequired(name.clone()));
            }
        }
        let layers = image.layers()?;
        let _lock = self.lock()?;
        if let Some((config_bytes, manifest_bytes)) = rewrite {
            self.put_blob(config_bytes)?;
            self.put_blob(manifest_bytes)?;
        }
        let needed = [image.manifest_digest, image.config_digest]
            .into_iter()
            .chain(layers.iter().map(|l| l.digest));
        for blob in needed {
            if !self.has_blob(&blob) {
                return Err(StoreError::BlobMissing {
                    manifest: image.manifest_digest,
                    blob,
                });
            }
        }
        let mut records = self.records()?;
        let position = match records
            .iter()
            .position(|r| r.manifest == image.manifest_digest)
        {
            Some(p) => p,
            None => {
                records.push(Record {
                    manifest: image.manifest_digest,
                    config: image.config_digest,
                    names: Vec::new(),
                    created: crate::time::now_rfc3339(),
                });
                records.len() - 1
            }
        };
        for name in names {
            move_name(&mut records, position, &name.without_digest().to_string());
        }
        self.save_records(&records)?;
        let path = self.index_path();
        records
            .get(position)
            .ok_or_else(|| StoreError::ImageNotFound(image.manifest_digest.to_string()))?
            .to_stored(&path)
    }

    /// Gives the image with this manifest the name `r` (which must have a tag;
    /// a digest in `r` is ignored). The name moves away from any image that had it.
    pub fn tag(&self, r: &Reference, manifest: &Digest) -> Result<(), StoreError> {
        if r.tag.is_none() {
            return Err(StoreError::TagRequired(r.clone()));
        }
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let position = records
            .iter()
            .position(|rec| rec.manifest == *manifest)
            .ok_or_else(|| StoreError::ImageNotFound(manifest.to_string()))?;
        move_name(&mut records, position, &r.without_digest().to_string());
        self.save_records(&records)
    }

    /// Removes the name `r` from its image; the image stays (possibly unnamed).
    pub fn untag(&self, r: &Reference) -> Result<(), StoreError> {
        let name = r.without_digest().to_string();
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let mut found = false;
        for rec in &mut records {
            let before = rec.names.len();
            rec.names.retain(|n| *n != name);
            found |= rec.names.len() != before;
        }
        if !found {
            return Err(StoreError::ImageNotFound(r.familiar()));
        }
        self.save_records(&records)
    }

    /// Finds an image by normalised name (`debian` = `docker.io/library/debian:latest`),
    /// by `name@sha256:…` or full manifest digest, or by image ID (config
    /// digest, `sha256:…` or a unique hex prefix of at least 12 digits).
    pub fn lookup(&self, name_or_id: &str) -> Result<StoredImage, StoreError> {
        let records = self.records()?;
        let index = find(&records, name_or_id)?;
        records
            .get(index)
            .ok_or_else(|| StoreError::ImageNotFound(name_or_id.to_owned()))?
            .to_stored(&self.index_path())
    }

    /// `rmi`: a name removes that name, and the image once no names remain;
    /// an ID or digest removes the image with all its names. Blobs no longer
    /// referenced by any remaining image are deleted (unpacked layer
    /// directories are left to the engine).
    pub fn remove(&self, name_or_id: &str) -> Result<Removed, StoreError> {
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let path = self.index_path();
        let index = find(&records, name_or_id)?;
        let by_name = Reference::parse_normalized(name_or_id)
            .ok()
            .filter(|r| r.digest.is_none())
            .map(|r| r.to_string())
            .filter(|n| records.get(index).is_some_and(|rec| rec.names.contains(n)));
        let mut removed = Removed {
            untagged: Vec::new(),
            deleted: None,
            blobs_deleted: Vec::new(),
        };
        let Some(record) = records.get_mut(index) else {
            return Err(StoreError::ImageNotFound(name_or_id.to_owned()));
        };
        let untagged: Vec<String> = match by_name {
            Some(name) => {
                record.names.retain(|n| *n != name);
                vec![name]
            }
            None => std::mem::take(&mut record.names),
        };
        removed.untagged = untagged
            .iter()
            .filter_map(|n| Reference::parse_normalized(n).ok())
            .collect();
        if !record.names.is_empty() {
            self.save_records(&records)?;
            return Ok(removed);
        }
        let record = records.remove(index);
        let mut stored = record.to_stored(&path)?;
        stored.names = removed.untagged.clone();
        self.save_records(&records)?;
        removed.deleted = Some(stored);
        removed.blobs_deleted = self.delete_unreferenced(&record, &records)?;
        Ok(removed)
    }

    /// Where step-cache records live.
    pub fn step_cache_dir(&self) -> PathBuf {
        self.root.join(gc_roots::STEPS_DIR)
    }

    /// Where RUN --mount=type=cache directories live.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join("cache-mounts")
    }

    /// The step-cache records, and those that cannot be read.
    pub fn step_records(&self) -> Result<(Vec<StepRoots>, Vec<BadStepRecord>), StoreError> {
        gc_roots::read_all(&self.root)
    }

    /// Deletes the blobs of `gone` that no remaining image or step-cache
    /// record uses and no running process has used since it started. If any
    /// manifest cannot be read, nothing is deleted (`kiln prune` collects it
    /// once `kiln store verify --repair` has dealt with the damage).
    fn delete_unreferenced(
        &self,
        gone: &Record,
        remaining: &[Record],
    ) -> Result<Vec<Digest>, StoreError> {
        let mut roots = gc::Roots::of_images(self, remaining);
        let (steps, bad_steps) = self.step_records()?;
        roots.add_steps(&steps);
        if !roots.unreadable.is_empty() || !bad_steps.is_empty() {
            return Ok(Vec::new());
        }
        let mut candidates = vec![gone.manifest, gone.config];
        if let Ok(blobs) = self.manifest_blobs(&gone.manifest) {
            candidates.extend(blobs);
        }
        let swept = gc::sweep_blobs(self, &roots, Some(&candidates))?;
        Ok(swept.into_iter().map(|(d, _)| d).collect())
    }

    /// Config and layer blobs named by a manifest.
    fn manifest_blobs(&self, manifest: &Digest) -> Result<Vec<Digest>, StoreError> {
        let m: ImageManifest = self.read_blob_json(manifest, MAX_MANIFEST_BYTES)?;
        let mut out = vec![descriptor_digest(m.config(), "config")?];
        for (i, l) in m.layers().iter().enumerate() {
            out.push(descriptor_digest(l, &format!("layer {i}"))?);
        }
        Ok(out)
    }

    /// Reads an image's manifest and config (size-capped, digest-verified).
    pub fn load_image(&self, manifest: &Digest) -> Result<Image, StoreError> {
        let m: ImageManifest = self.read_blob_json(manifest, MAX_MANIFEST_BYTES)?;
        let config_digest = descriptor_digest(m.config(), "config")?;
        let config: ImageConfiguration = self.read_blob_json(&config_digest, MAX_CONFIG_BYTES)?;
        let image = Image {
            manifest_digest: *manifest,
            manifest: m,
            config_digest,
            config,
        };
        // Validate diff-ids and layer count up front.
        image.layers()?;
        Ok(image)
    }
}

/// Moves `name` onto `records[target]`, removing it from all others.
fn move_name(records: &mut [Record], target: usize, name: &str) {
    for (i, rec) in records.iter_mut().enumerate() {
        if i == target {
            if !rec.names.iter().any(|n| n == name) {
                rec.names.push(name.to_owned());
            }
        } else {
            rec.names.retain(|n| n != name);
        }
    }
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Resolves a name, digest or ID to a record index.
fn find(records: &[Record], input: &str) -> Result<usize, StoreError> {
    let not_found = || StoreError::ImageNotFound(input.to_owned());
    // Full digest: a manifest digest or an image ID.
    if let Ok(d) = Digest::parse(input) {
        return records
            .iter()
            .position(|r| r.manifest == d)
            .or_else(|| records.iter().position(|r| r.config == d))
            .ok_or_else(not_found);
    }
    let parsed = Reference::parse_normalized(input);
    if let Ok(r) = &parsed {
        if let Some(d) = r.digest {
            return records
                .iter()
                .position(|rec| rec.manifest == d)
                .ok_or_else(not_found);
        }
        let name = r.to_string();
        if let Some(i) = records.iter().position(|rec| rec.names.contains(&name)) {
            return Ok(i);
        }
    }
    // An ID prefix, like Docker: names first, then IDs.
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    if is_lower_hex(hex) && hex.len() <= crate::digest::HEX_LEN {
        if hex.len() < MIN_ID_PREFIX {
            return Err(not_found());
        }
        let matches: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.config.hex_starts_with(hex))
            .map(|(i, _)| i)
            .collect();
        return match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(not_found()),
            many => Err(StoreError::AmbiguousId {
                prefix: input.to_owned(),
                count: many.len(),
            }),
        };
    }
    match parsed {
        Ok(_) => Err(not_found()),
        Err(source) => Err(StoreError::BadName {
            input: input.to_owned(),
            source: Box::new(source),
        }),
    }
}
