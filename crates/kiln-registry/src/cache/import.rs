//! `--cache-from type=registry`: the cache manifest and config are fetched before the
//! build; a step's layer is fetched only when the build looks up its key and the local
//! store misses. Everything is size-capped and digest-verified; a layer reaches the
//! store only as the exact blob its record names.

use super::format::{
    parse_config, CacheRecord, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MAX_CACHE_CONFIG_BYTES,
};
use crate::client::{status_error, Client, Req};
use crate::error::{RegistryError, Result};
use crate::manifest;
use crate::RegistryOptions;
use kiln_oci::image::ImageManifest;
use kiln_oci::{media, Digest, DigestReader, Reference, StepRecord, Store, StoreError};
use std::collections::HashMap;
use std::io::{self, Read};

/// A layer of the cache manifest.
#[derive(Debug, Clone)]
struct RemoteLayer {
    digest: Digest,
    size: u64,
    media_type: String,
}

/// A build cache in a registry, ready for lookups.
#[derive(Debug)]
pub struct RemoteCache {
    /// Where it is.
    pub reference: Reference,
    /// The cache manifest's digest.
    pub manifest: Digest,
    client: Client,
    layers: Vec<RemoteLayer>,
    records: HashMap<Digest, CacheRecord>,
}

impl RemoteCache {
    /// Fetches and checks the cache manifest and config at `reference`.
    pub fn open(reference: &Reference, opts: &RegistryOptions) -> Result<RemoteCache> {
        let client = Client::connect(&reference.registry, opts, None)?;
        let repo = &reference.repository;
        let scope = format!("repository:{repo}:pull");
        let target = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        };
        let m = manifest::get(&client, repo, &target, &scope)?;
        let url = client.url(repo, &format!("manifests/{}", m.digest));
        let bad = |reason: String| RegistryError::BadContent {
            what: format!("build cache {reference}"),
            url: url.clone(),
            reason,
        };
        if m.media_type != media::OCI_MANIFEST {
            return Err(bad(format!(
                "it is a {} rather than a kiln build cache manifest; give the ref a --cache-to wrote",
                m.media_type
            )));
        }
        let parsed: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| bad(format!("not a valid OCI manifest: {e}")))?;
        let config = parsed.config();
        let artifact = parsed.artifact_type().as_ref().map(|a| a.to_string());
        if config.media_type().to_string() != CONFIG_MEDIA_TYPE
            || artifact.as_deref().is_some_and(|a| a != ARTIFACT_TYPE)
        {
            return Err(bad(format!(
                "its config is {} rather than {CONFIG_MEDIA_TYPE}: this is not a kiln build cache (an image, or a cache of another tool); give the ref a --cache-to wrote",
                config.media_type()
            )));
        }
        let digest = |value: &str| {
            Digest::parse(value).map_err(|e| bad(format!("unsupported digest {value:?}: {e}")))
        };
        let config_digest = digest(config.digest().as_ref())?;
        if config.size() > MAX_CACHE_CONFIG_BYTES {
            return Err(RegistryError::TooLarge {
                what: format!("cache config {config_digest}"),
                url,
                max: MAX_CACHE_CONFIG_BYTES,
            });
        }
        let mut layers = Vec::new();
        for l in parsed.layers() {
            let media_type = l.media_type().to_string();
            if media::layer_compression(&media_type).is_none() {
                return Err(bad(format!(
                    "layer media type {media_type:?} is not a layer kiln can read"
                )));
            }
            layers.push(RemoteLayer {
                digest: digest(l.digest().as_ref())?,
                size: l.size(),
                media_type,
            });
        }
        let bytes = get_small_blob(&client, repo, &scope, &config_digest, config.size())?;
        let records =
            parse_config(&bytes, layers.len()).map_err(|reason| RegistryError::BadContent {
                what: format!("cache config {config_digest} of {reference}"),
                url: client.url(repo, &format!("blobs/{config_digest}")),
                reason,
            })?;
        Ok(RemoteCache {
            reference: reference.clone(),
            manifest: m.digest,
            client,
            layers,
            records,
        })
    }

    /// Number of step records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the cache has no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Does the cache have a record for `key`?
    pub fn has(&self, key: &Digest) -> bool {
        self.records.contains_key(key)
    }

    /// The record for `key` with its layer put in `store` (fetched unless the store has
    /// it), last used `now`. `Ok(None)`: no record. The caller writes the record.
    pub fn import(&self, store: &Store, key: &Digest, now: &str) -> Result<Option<StepRecord>> {
        let Some(rec) = self.records.get(key) else {
            return Ok(None);
        };
        if let Some(l) = &rec.layer {
            if !store.has_blob(&l.digest) {
                let remote = self.layers.get(l.index).ok_or_else(|| {
                    RegistryError::Invalid(format!("cache record {key}: no layer {}", l.index))
                })?;
                self.fetch_layer(store, remote, l)?;
            }
        }
        Ok(Some(rec.to_step(now)))
    }

    /// Downloads `remote` and stores it as the record's blob: as it is when the store keeps
    /// the same compressed blob, decompressed when the store keeps it uncompressed.
    fn fetch_layer(
        &self,
        store: &Store,
        remote: &RemoteLayer,
        local: &super::format::CacheLayer,
    ) -> Result<()> {
        let repo = &self.reference.repository;
        let scope = format!("repository:{repo}:pull");
        let url = self.client.url(repo, &format!("blobs/{}", remote.digest));
        let bad = |reason: String| RegistryError::BadContent {
            what: format!("cache layer {}", remote.digest),
            url: url.clone(),
            reason,
        };
        let sent = media::layer_compression(&remote.media_type)
            .ok_or_else(|| bad("not a layer".into()))?;
        let kept =
            media::layer_compression(&local.media_type).ok_or_else(|| bad("not a layer".into()))?;
        if kept != media::Compression::None && remote.digest != local.digest {
            return Err(bad(format!(
                "the store kept {} but the cache has {}; export the cache again",
                local.digest, remote.digest
            )));
        }
        let mut resp = self.client.send(&Req::new("GET", url.clone(), &scope))?;
        if resp.status().as_u16() != 200 {
            return Err(status_error("GET", &url, &mut resp, &self.client.host));
        }
        let body = resp
            .into_body()
            .into_reader()
            .take(remote.size.saturating_add(1));
        let mut compressed = DigestReader::new(body);
        let mut writer = store.blob_writer()?;
        let io_fail = |e: io::Error| RegistryError::Transport {
            url: url.clone(),
            source: Box::new(e),
            hint: "the layer could not be read; the step runs instead (try again later)".into(),
        };
        {
            // The store keeps the layer uncompressed: decode what the cache sent.
            let plain: Box<dyn Read + '_> = if kept == media::Compression::None {
                kiln_oci::compression::decoder(sent, &mut compressed)
                    .map_err(|e| io_fail(io::Error::other(e)))?
            } else {
                Box::new(&mut compressed)
            };
            let mut limited = plain.take(local.size.saturating_add(1));
            io::copy(&mut limited, &mut writer).map_err(|e| bad(format!("cannot read it: {e}")))?;
            if writer.written() > local.size {
                return Err(RegistryError::TooLarge {
                    what: format!("cache layer {} (as {})", remote.digest, local.digest),
                    url: url.clone(),
                    max: local.size,
                });
            }
            // The rest of the compressed stream (a decoder may stop at its end marker).
            io::copy(&mut limited.into_inner(), &mut io::sink())
                .map_err(|e| bad(format!("cannot read it: {e}")))?;
        }
        let (_, got, count) = compressed.finish();
        if count != remote.size || got != remote.digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("cache layer ({count} bytes)"),
                url,
                expected: remote.digest,
                actual: got,
            });
        }
        match writer.commit(Some(&local.digest)) {
            Ok(_) => Ok(()),
            Err(StoreError::DigestMismatch {
                expected, actual, ..
            }) => Err(RegistryError::DigestMismatch {
                what: format!("cache layer {} uncompressed", remote.digest),
                url,
                expected,
                actual,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// A small blob (at most `size` bytes, size-capped) read into memory and verified.
fn get_small_blob(
    client: &Client,
    repo: &str,
    scope: &str,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>> {
    let url = client.url(repo, &format!("blobs/{digest}"));
    let mut resp = client.send(&Req::new("GET", url.clone(), scope))?;
    if resp.status().as_u16() != 200 {
        return Err(status_error("GET", &url, &mut resp, &client.host));
    }
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(size)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
                what: format!("blob {digest}"),
                url: url.clone(),
                max: size,
            },
            e => RegistryError::Transport {
                url: url.clone(),
                source: Box::new(e),
                hint: "the connection broke while reading the blob; try again".into(),
            },
        })?;
    let actual = Digest::of_bytes(&bytes);
    if actual != *digest {
        return Err(RegistryError::DigestMismatch {
            what: format!("blob {digest}"),
            url,
            expected: *digest,
            actual,
        });
    }
    Ok(bytes)
}
