//! The registry form of a build cache: one OCI image manifest whose config is a kiln
//! cache config (the step records) and whose layers are the records' layer blobs,
//! compressed for the registry.
//!
//! ```text
//! manifest  mediaType  application/vnd.oci.image.manifest.v1+json
//!           artifactType application/vnd.kiln.build-cache.v1
//!           config     application/vnd.kiln.cache.config.v1+json
//!           layers     tar+gzip or tar+zstd blobs
//! config    {"schemaVersion": 1, "records": [{key, created, createdBy, instruction,
//!            nextKey?, layer?: {index, digest, size, mediaType, diffId}}]}
//! ```
//!
//! A record's `layer.index` names its blob in the manifest's `layers`; `digest`, `size`
//! and `mediaType` are the blob as the building store keeps it (uncompressed for built
//! layers) so an imported step gives the same image as a local one.

use kiln_oci::{media, CachedLayer, Digest, StepRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// `artifactType` of a kiln build cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.kiln.build-cache.v1";
/// Media type of the cache config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.kiln.cache.config.v1+json";
/// Annotation saying which records were exported (`min` or `max`).
pub const MODE_ANNOTATION: &str = "dev.kiln.cache.mode";
/// Largest cache config accepted.
pub const MAX_CACHE_CONFIG_BYTES: u64 = 16 << 20;
/// Longest `created` time accepted.
const MAX_TIME_LEN: usize = 64;

/// The cache config blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheConfig {
    /// Always 1.
    pub schema_version: u32,
    /// The step records.
    pub records: Vec<CacheRecord>,
}

/// One exported step record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRecord {
    /// The step's cache key.
    pub key: Digest,
    /// When the step first ran (RFC 3339), kept so imported steps give the same history.
    pub created: String,
    /// The history's `created_by`.
    #[serde(default)]
    pub created_by: String,
    /// The instruction as it ran.
    #[serde(default)]
    pub instruction: String,
    /// For steps whose key is known only after they ran: the key the next step builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<Digest>,
    /// The step's layer, if it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<CacheLayer>,
}

/// A record's layer: where it is in the manifest and what the store keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheLayer {
    /// Index in the manifest's `layers`.
    pub index: usize,
    /// The blob as the store keeps it.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

impl CacheRecord {
    /// The exported form of a store record (`index`: its layer's place in the manifest).
    pub fn from_step(rec: &StepRecord, index: Option<usize>) -> CacheRecord {
        CacheRecord {
            key: rec.key,
            created: rec.created.clone(),
            created_by: rec.created_by.clone(),
            instruction: rec.instruction.clone(),
            next_key: rec.next_key,
            layer: rec.layer.as_ref().zip(index).map(|(l, index)| CacheLayer {
                index,
                digest: l.digest,
                size: l.size,
                media_type: l.media_type.clone(),
                diff_id: l.diff_id,
            }),
        }
    }

    /// The store record this gives, last used `now` (RFC 3339).
    pub fn to_step(&self, now: &str) -> StepRecord {
        let layer = self.layer.as_ref().map(|l| CachedLayer {
            digest: l.digest,
            diff_id: l.diff_id,
            size: l.size,
            media_type: l.media_type.clone(),
        });
        StepRecord {
            key: self.key,
            blobs: layer.iter().map(|l| l.digest).collect(),
            created: self.created.clone(),
            last_used: now.to_owned(),
            instruction: self.instruction.clone(),
            created_by: self.created_by.clone(),
            layer,
            next_key: self.next_key,
        }
    }
}

/// Parses and checks a cache config against the manifest's layer count; returns the
/// records by key (the first of duplicates wins). The error says what is wrong.
pub fn parse_config(bytes: &[u8], layers: usize) -> Result<HashMap<Digest, CacheRecord>, String> {
    let config: CacheConfig =
        serde_json::from_slice(bytes).map_err(|e| format!("not a kiln cache config: {e}"))?;
    if config.schema_version != 1 {
        return Err(format!(
            "cache config schema version {} is not supported (this kiln reads version 1)",
            config.schema_version
        ));
    }
    let mut out = HashMap::new();
    for rec in config.records {
        if rec.created.len() > MAX_TIME_LEN || kiln_oci::time::parse_rfc3339(&rec.created).is_none()
        {
            return Err(format!(
                "record {}: created time {:?} is not an RFC 3339 time",
                rec.key,
                rec.created.chars().take(MAX_TIME_LEN).collect::<String>()
            ));
        }
        if let Some(l) = &rec.layer {
            if l.index >= layers {
                return Err(format!(
                    "record {}: layer index {} but the manifest has {layers} layers",
                    rec.key, l.index
                ));
            }
            let compression = media::layer_compression(&l.media_type).ok_or_else(|| {
                format!(
                    "record {}: {:?} is not a layer media type",
                    rec.key,
                    l.media_type.chars().take(100).collect::<String>()
                )
            })?;
            if compression == media::Compression::None && l.digest != l.diff_id {
                return Err(format!(
                    "record {}: an uncompressed layer whose digest {} is not its diff_id {}",
                    rec.key, l.digest, l.diff_id
                ));
            }
        }
        out.entry(rec.key).or_insert(rec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(layer_index: usize, created: &str) -> Vec<u8> {
        let d = Digest::of_bytes(b"tar");
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 1,
            "records": [{
                "key": Digest::of_bytes(b"k").to_string(),
                "created": created,
                "createdBy": "RUN true",
                "instruction": "RUN true",
                "layer": {"index": layer_index, "digest": d.to_string(), "size": 3,
                          "mediaType": media::OCI_LAYER_TAR, "diffId": d.to_string()}
            }]
        }))
        .expect("json")
    }

    #[test]
    fn parses_and_round_trips_records() {
        let recs = parse_config(&config(0, "2026-01-01T00:00:00Z"), 1).expect("config");
        let rec = recs.get(&Digest::of_bytes(b"k")).expect("record");
        let step = rec.to_step("2026-02-02T00:00:00Z");
        assert_eq!(step.blobs, vec![Digest::of_bytes(b"tar")]);
        assert_eq!(step.created, "2026-01-01T00:00:00Z");
        let back = CacheRecord::from_step(&step, Some(0));
        assert_eq!(back.layer.expect("layer").diff_id, Digest::of_bytes(b"tar"));
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(parse_config(b"garbage", 1).is_err());
        assert!(parse_config(b"{\"schemaVersion\":2,\"records\":[]}", 0).is_err());
        let e = parse_config(&config(3, "2026-01-01T00:00:00Z"), 1).expect_err("index");
        assert!(e.contains("layer index 3"), "{e}");
        let e = parse_config(&config(0, "yesterday"), 1).expect_err("time");
        assert!(e.contains("RFC 3339"), "{e}");
    }
}
