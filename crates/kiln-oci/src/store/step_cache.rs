//! Step-cache records: what a build step produced, found again by its cache key.
//!
//! ```text
//! <root>/cache/steps/<hex of the key's sha256>.json
//! ```
//!
//! One small JSON file per key, written atomically (a temp file in the same directory,
//! fsync, rename), so a reader sees a whole record or none. `blobs` lists every blob of
//! the store the record needs; `kiln prune` and `kiln store verify` treat them as roots.
//! A record whose blobs are gone is a miss, never an error: the step runs again.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{io_err, sync_dir, Store, StoreError};
use crate::digest::Digest;
use crate::image::LayerRef;

/// Largest record accepted when reading (they are a few hundred bytes).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Hits refresh `last_used` only when it is older than this (seconds), so a cached
/// rebuild does not rewrite every record.
const TOUCH_AFTER_SECS: u64 = 60;

/// The layer a step produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// Blob digest.
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Blob size in bytes.
    pub size: u64,
    /// Blob media type.
    pub media_type: String,
}

impl From<&LayerRef> for CachedLayer {
    fn from(l: &LayerRef) -> CachedLayer {
        CachedLayer {
            digest: l.digest,
            diff_id: l.diff_id,
            size: l.size,
            media_type: l.media_type.clone(),
        }
    }
}

impl From<&CachedLayer> for LayerRef {
    fn from(l: &CachedLayer) -> LayerRef {
        LayerRef {
            digest: l.digest,
            size: l.size,
            media_type: l.media_type.clone(),
            diff_id: l.diff_id,
        }
    }
}

/// One step's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The cache key (`sha256:...`).
    pub key: Digest,
    /// Every store blob this record needs (its layer, if any).
    pub blobs: Vec<Digest>,
    /// When the step ran, RFC 3339 UTC; the image history of a cached step uses it.
    pub created: String,
    /// When a build last used the record, RFC 3339 UTC.
    pub last_used: String,
    /// The instruction as it ran (for people reading the store).
    pub instruction: String,
    /// The image history's `created_by`.
    pub created_by: String,
    /// The layer, if the step made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<CachedLayer>,
    /// For steps whose key is only known after they ran (ADD of a URL without
    /// `--checksum`): the key the next step builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<Digest>,
}

/// The step cache of a store.
#[derive(Clone, Debug)]
pub struct StepCache {
    store: Store,
}

impl Store {
    /// This store's step cache.
    pub fn step_cache(&self) -> StepCache {
        StepCache {
            store: self.clone(),
        }
    }
}

impl StepCache {
    /// `<root>/cache/steps`.
    pub fn dir(&self) -> PathBuf {
        self.store.step_cache_dir()
    }

    /// The file of a key's record.
    pub fn path(&self, key: &Digest) -> PathBuf {
        self.dir().join(format!("{}.json", key.hex()))
    }

    /// The record for `key`, if there is a readable one whose blobs are all in the store
    /// (they are then kept from pruning while this process runs).
    /// A damaged record or a missing blob makes a miss (the step runs again).
    pub fn get(&self, key: &Digest) -> Option<StepRecord> {
        let path = self.path(key);
        let bytes = match fs::File::open(&path) {
            Ok(f) => crate::json::read_capped(f, MAX_RECORD_BYTES).ok()??,
            Err(_) => return None,
        };
        let rec: StepRecord = serde_json::from_slice(&bytes).ok()?;
        // retain_blob, not has_blob: the blobs must stay until this build has recorded the
        // image that uses them, even if a concurrent prune drops the record meanwhile.
        if rec.key != *key
            || !rec
                .blobs
                .iter()
                .all(|b| matches!(self.store.retain_blob(b), Ok(true)))
        {
            return None;
        }
        if let Some(l) = &rec.layer {
            if !rec.blobs.contains(&l.digest) {
                return None;
            }
        }
        Some(rec)
    }

    /// Write a record (atomically; replaces an older one for the same key).
    pub fn put(&self, rec: &StepRecord) -> Result<(), StoreError> {
        self.write(rec, true)
    }

    /// Mark a record as used now (best effort: the cache works without it).
    pub fn touch(&self, rec: &StepRecord, now_secs: u64) {
        let fresh = crate::time::parse_rfc3339(&rec.last_used)
            .is_some_and(|t| now_secs.saturating_sub(t) < TOUCH_AFTER_SECS);
        if fresh {
            return;
        }
        let mut rec = rec.clone();
        rec.last_used = crate::time::rfc3339(now_secs);
        let _ = self.write(&rec, false);
    }

    /// All records (unreadable files are skipped), for prune and verify.
    pub fn list(&self) -> Result<Vec<StepRecord>, StoreError> {
        let dir = self.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("read directory", &dir, e))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(rec) = Digest::from_hex(hex).and_then(|k| self.get_any(&k)) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Remove the record of `key` (absent is fine).
    pub fn remove(&self, key: &Digest) -> Result<(), StoreError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path, e)),
        }
    }

    /// A readable record, whether or not its blobs are present.
    fn get_any(&self, key: &Digest) -> Option<StepRecord> {
        let f = fs::File::open(self.path(key)).ok()?;
        let bytes = crate::json::read_capped(f, MAX_RECORD_BYTES).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn write(&self, rec: &StepRecord, sync: bool) -> Result<(), StoreError> {
        let dir = self.dir();
        fs::create_dir_all(&dir).map_err(|e| io_err("create directory", &dir, e))?;
        let path = self.path(&rec.key);
        let mut bytes = serde_json::to_vec_pretty(rec).map_err(|source| StoreError::Json {
            what: format!("step cache record {}", path.display()),
            source,
        })?;
        bytes.push(b'\n');
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".json")
            .tempfile_in(&dir)
            .map_err(|e| io_err("create a temporary file in", &dir, e))?;
        temp.write_all(&bytes)
            .and_then(|()| {
                if sync {
                    temp.as_file().sync_all()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| io_err("write", temp.path(), e))?;
        temp.persist(&path)
            .map_err(|e| io_err("replace", &path, e.error))?;
        if sync {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(store: &Store, key: Digest, layer: Option<LayerRef>) -> StepRecord {
        let _ = store;
        StepRecord {
            key,
            blobs: layer.iter().map(|l| l.digest).collect(),
            created: "2026-01-01T00:00:00Z".into(),
            last_used: "2026-01-01T00:00:00Z".into(),
            instruction: "RUN true".into(),
            created_by: "RUN true".into(),
            layer: layer.as_ref().map(CachedLayer::from),
            next_key: None,
        }
    }

    #[test]
    fn records_round_trip_and_need_their_blobs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let cache = store.step_cache();
        let (digest, size) = store.put_blob(b"layer").expect("blob");
        let key = Digest::of_bytes(b"key");
        assert!(cache.get(&key).is_none());
        let rec = record(&store, key, Some(LayerRef::uncompressed(digest, size)));
        cache.put(&rec).expect("put");
        assert_eq!(cache.get(&key), Some(rec.clone()));
        assert!(cache.path(&key).ends_with(format!("{}.json", key.hex())));
        assert_eq!(cache.list().expect("list"), vec![rec]);
        fs::remove_file(store.blob_path(&digest)).expect("remove blob");
        assert!(
            cache.get(&key).is_none(),
            "a record without its blob is a miss"
        );
    }

    #[test]
    fn damaged_or_misfiled_records_are_misses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let cache = store.step_cache();
        let key = Digest::of_bytes(b"a");
        fs::create_dir_all(cache.dir()).expect("mkdir");
        fs::write(cache.path(&key), b"{not json").expect("write");
        assert!(cache.get(&key).is_none());
        let other = record(&store, Digest::of_bytes(b"b"), None);
        fs::write(cache.path(&key), serde_json::to_vec(&other).expect("json")).expect("write");
        assert!(
            cache.get(&key).is_none(),
            "a record filed under another key"
        );
    }

    #[test]
    fn touch_refreshes_last_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let cache = store.step_cache();
        let rec = record(&store, Digest::of_bytes(b"k"), None);
        cache.put(&rec).expect("put");
        cache.touch(&rec, 1_900_000_000);
        let got = cache.get(&rec.key).expect("record");
        assert_eq!(got.last_used, crate::time::rfc3339(1_900_000_000));
        assert_eq!(got.created, rec.created);
    }
}
