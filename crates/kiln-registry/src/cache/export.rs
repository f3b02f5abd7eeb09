//! `--cache-to type=registry`: the step records a build used or made, and their layers
//! compressed for the registry, pushed as one cache manifest (see `format.rs`).

use super::compressed;
use super::format::{CacheConfig, CacheRecord, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MODE_ANNOTATION};
use super::spec::CacheTo;
use crate::client::Client;
use crate::error::{RegistryError, Result};
use crate::progress::{Reporter, Transfer, TransferKind};
use crate::push::{put_manifest, upload_all, Pushed, Uploads};
use crate::recompress::{compression_of, layer_media_type, recompress};
use crate::RegistryOptions;
use kiln_oci::{media, Digest, LayerRef, StepRecord, Store};
use serde_json::json;
use std::collections::HashMap;

/// Pushes `records` (and their layers from `store`) as a cache manifest to `to`.
pub fn export(
    store: &Store,
    records: &[StepRecord],
    to: &CacheTo,
    opts: &RegistryOptions,
) -> Result<Pushed> {
    let progress = Reporter::new(&opts.progress, Transfer::CacheExport, &to.reference);
    progress.emit(TransferKind::Begin);
    progress.note(format!(
        "Exporting {} cached steps (mode={}) to {}",
        records.len(),
        to.mode.as_str(),
        to.reference
    ));
    // Layers in the manifest, by the store's blob digest.
    let mut index: HashMap<Digest, usize> = HashMap::new();
    let mut layers: Vec<LayerRef> = Vec::new();
    let mut exported = Vec::new();
    for rec in records {
        let mut at = None;
        if let Some(l) = &rec.layer {
            let local = LayerRef::from(l);
            at = Some(match index.get(&local.digest) {
                Some(i) => *i,
                None => {
                    let have = compression_of(store, &local)?;
                    let sent = if have == to.compression {
                        let mut s = local.clone();
                        s.media_type = layer_media_type(have, true, &local.digest)?.to_owned();
                        s
                    } else if let Some(done) = compressed::lookup(store, &local, to.compression) {
                        done
                    } else {
                        progress.note(format!(
                            "Compressing cache layer {} for {}",
                            local.digest, to.reference
                        ));
                        let sent = recompress(store, &local, have, to.compression, true)?;
                        compressed::remember(store, &local, to.compression, &sent);
                        sent
                    };
                    layers.push(sent);
                    index.insert(local.digest, layers.len() - 1);
                    layers.len() - 1
                }
            });
        }
        exported.push(CacheRecord::from_step(rec, at));
    }
    let config = serde_json::to_vec(&CacheConfig {
        schema_version: 1,
        records: exported,
    })
    .map_err(|e| RegistryError::Invalid(format!("cannot encode the cache config: {e}")))?;
    let (config_digest, config_size) = store.put_blob(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest.to_string(),
            "size": config_size,
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type,
            "digest": l.digest.to_string(),
            "size": l.size,
        })).collect::<Vec<_>>(),
        "annotations": {
            MODE_ANNOTATION: to.mode.as_str(),
            "org.opencontainers.image.description": "kiln build cache",
        },
    });
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| RegistryError::Invalid(format!("cannot encode the cache manifest: {e}")))?;
    let digest = Digest::of_bytes(&bytes);
    let dest = &to.reference;
    let client = Client::connect(&dest.registry, opts, None)?;
    let mut jobs: Vec<(Digest, u64)> = layers.iter().map(|l| (l.digest, l.size)).collect();
    jobs.push((config_digest, config_size));
    let uploads = Uploads {
        store,
        client: &client,
        repo: &dest.repository,
        mounts: &HashMap::new(),
        opts,
        progress: &progress,
    };
    let outcomes = upload_all(&uploads, jobs)?;
    put_manifest(&client, dest, &bytes, media::OCI_MANIFEST, &digest)?;
    Ok(Pushed::counted(dest, digest, &outcomes))
}
