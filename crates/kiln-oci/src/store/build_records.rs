//! What a build remembers about the image it made, beside the image: which Dockerfile
//! line made each layer and each history entry. `kiln audit` names the line of each
//! finding with it. Kept as a cache file ([`CacheArea::BuildRecords`]) under the image
//! ID: an image loaded or pulled has none, and nothing depends on it being there.

use super::cache_files::CacheArea;
use super::{Store, StoreError};
use crate::Digest;
use serde::{Deserialize, Serialize};

/// Largest record read (a line number per layer and history entry).
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// One layer of a built image and the line that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerLine {
    /// The layer's diff-id: a record is used only for the layers it names.
    pub diff_id: String,
    /// The line of the step that made it; for a base image's layers, the FROM line.
    pub line: Option<u32>,
}

/// The Dockerfile lines of a built image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The Dockerfile as the build named it (`Dockerfile`, `app/Containerfile`).
    pub dockerfile: String,
    /// Per layer, bottom first.
    pub layers: Vec<LayerLine>,
    /// Per entry of the config's history, oldest first.
    pub history: Vec<Option<u32>>,
}

impl Store {
    /// Remember `record` for the image whose config digest is `image`.
    pub fn put_build_record(&self, image: &Digest, record: &BuildRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Json {
            what: format!("the build record of {image}"),
            source: e,
        })?;
        self.write_cache_file(CacheArea::BuildRecords, &image.hex(), &bytes)
    }

    /// The record of image `image`, if a build here made it (unreadable: none).
    pub fn build_record(&self, image: &Digest) -> Option<BuildRecord> {
        let bytes =
            self.read_cache_file(CacheArea::BuildRecords, &image.hex(), MAX_RECORD_BYTES)?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_round_trip_by_image() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let id = Digest::of_bytes(b"config");
        assert_eq!(store.build_record(&id), None);
        let rec = BuildRecord {
            dockerfile: "Dockerfile".into(),
            layers: vec![LayerLine {
                diff_id: Digest::of_bytes(b"layer").to_string(),
                line: Some(3),
            }],
            history: vec![Some(1), None],
        };
        store.put_build_record(&id, &rec).unwrap();
        assert_eq!(store.build_record(&id), Some(rec));
    }
}
