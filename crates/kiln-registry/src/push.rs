//! `kiln push`: the layers (compressed as asked), the config, then the manifest, to
//! `DEST`. Blobs the registry has are skipped, blobs other repositories of the same
//! registry have are mounted, the rest uploaded in parallel.

use crate::client::{header, status_error, Client, Req, ReqBody};
use crate::error::{RegistryError, Result};
use crate::progress::{Reporter, Transfer, TransferKind};
use crate::recompress::{compression_of, layer_media_type, recompress};
use crate::upload::{push_blob, BlobJob, BlobOutcome};
use crate::{Compression, RegistryOptions};
use kiln_oci::image::{descriptor_digest, MAX_MANIFEST_BYTES};
use kiln_oci::{media, Digest, LayerRef, Reference, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// What to push and how.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `--compression`: layers in another compression are recompressed. `None` keeps
    /// compressed layers and gzips uncompressed ones.
    pub compression: Option<Compression>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Where it went.
    pub reference: Reference,
    /// Digest of the manifest as pushed.
    pub digest: Digest,
    /// Blobs uploaded, mounted, and already present.
    pub uploaded: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs the registry had.
    pub existed: usize,
}

/// Pushes the stored image with manifest `manifest` to `dest`.
pub fn push(
    store: &Store,
    manifest: &Digest,
    dest: &Reference,
    push_opts: &PushOptions,
    opts: &RegistryOptions,
) -> Result<Pushed> {
    let progress = Reporter::new(&opts.progress, Transfer::Push, dest);
    progress.emit(TransferKind::Begin);
    let image = store.load_image(manifest)?;
    let bytes = store.read_blob(manifest, MAX_MANIFEST_BYTES)?;
    // Reach the registry before any slow recompression.
    let client = Client::connect(&dest.registry, opts, None)?;
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadContent {
        what: format!("stored manifest {manifest}"),
        url: store.root().display().to_string(),
        reason: e.to_string(),
    })?;
    let mut media_type = doc
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(media::OCI_MANIFEST)
        .to_owned();
    let layers = image.layers().map_err(kiln_oci::StoreError::from)?;
    let plan = compression_plan(store, &layers, push_opts)?;
    let to_oci = media_type == media::DOCKER_MANIFEST
        && plan.iter().any(|(_, _, w)| *w == Compression::Zstd);
    if to_oci {
        media_type = media::OCI_MANIFEST.to_owned();
    }
    let (pushed_layers, changed) =
        layers_as_pushed(store, &plan, media_type == media::OCI_MANIFEST, &progress)?;
    let bytes = if changed || to_oci {
        rewrite(&mut doc, &pushed_layers, to_oci)?;
        let new = serde_json::to_vec(&doc).map_err(|e| RegistryError::BadContent {
            what: "the rewritten manifest".into(),
            url: dest.to_string(),
            reason: e.to_string(),
        })?;
        store.put_blob(&new)?;
        new
    } else {
        bytes
    };
    let digest = Digest::of_bytes(&bytes);
    let config =
        descriptor_digest(image.manifest.config(), "config").map_err(kiln_oci::StoreError::from)?;
    let mounts = mount_sources(store, &dest.registry);
    let mut jobs: Vec<(Digest, u64)> = pushed_layers.iter().map(|l| (l.digest, l.size)).collect();
    jobs.push((config, store.blob_size(&config)?));
    jobs.dedup();
    let uploads = Uploads {
        store,
        client: &client,
        repo: &dest.repository,
        mounts: &mounts,
        opts,
        progress: &progress,
    };
    let outcomes = upload_all(&uploads, jobs)?;
    put_manifest(&client, dest, &bytes, &media_type, &digest)?;
    Ok(Pushed::counted(dest, digest, &outcomes))
}

impl Pushed {
    /// What a push of `outcomes` to `dest` (manifest `digest`) did.
    pub(crate) fn counted(dest: &Reference, digest: Digest, outcomes: &[BlobOutcome]) -> Pushed {
        let count = |o: BlobOutcome| outcomes.iter().filter(|x| **x == o).count();
        Pushed {
            reference: dest.clone(),
            digest,
            uploaded: count(BlobOutcome::Uploaded),
            mounted: count(BlobOutcome::Mounted),
            existed: count(BlobOutcome::Existed),
        }
    }
}

/// Each layer with the compression it has and the one it is pushed with.
fn compression_plan(
    store: &Store,
    layers: &[LayerRef],
    push_opts: &PushOptions,
) -> Result<Vec<(LayerRef, Compression, Compression)>> {
    let mut plan = Vec::new();
    for layer in layers {
        let have = compression_of(store, layer)?;
        let want = match (push_opts.compression, have) {
            (Some(c), _) => c,
            (None, c @ (Compression::Gzip | Compression::Zstd)) => c,
            // Plain, and xz or bzip2 (no layer media type), are pushed as gzip.
            (None, _) => Compression::Gzip,
        };
        plan.push((layer.clone(), have, want));
    }
    Ok(plan)
}

/// The layer descriptors as pushed (recompressed where the plan says so, media types of
/// the manifest's family), and whether any differs from the stored manifest's.
fn layers_as_pushed(
    store: &Store,
    plan: &[(LayerRef, Compression, Compression)],
    oci: bool,
    progress: &Reporter,
) -> Result<(Vec<LayerRef>, bool)> {
    let mut changed = false;
    let mut pushed_layers: Vec<LayerRef> = Vec::new();
    for (layer, have, want) in plan {
        if have == want {
            // Layer types follow the manifest's family (a build on a Docker base has
            // Docker layer types under an OCI manifest); foreign layers keep theirs.
            let mut l = layer.clone();
            let standard = [
                media::OCI_LAYER_TAR,
                media::OCI_LAYER_TAR_GZIP,
                media::OCI_LAYER_TAR_ZSTD,
                media::DOCKER_LAYER_TAR,
                media::DOCKER_LAYER_GZIP,
            ];
            let wanted_type = layer_media_type(*want, oci, &layer.digest)?;
            if standard.contains(&l.media_type.as_str()) && l.media_type != wanted_type {
                l.media_type = wanted_type.to_owned();
                changed = true;
            }
            pushed_layers.push(l);
        } else {
            progress.note(format!(
                "Compressing layer {} ({} -> {})",
                layer.digest,
                name(*have),
                name(*want)
            ));
            pushed_layers.push(recompress(store, layer, *have, *want, oci)?);
            changed = true;
        }
    }
    Ok((pushed_layers, changed))
}

fn name(c: Compression) -> &'static str {
    match c {
        Compression::None => "uncompressed",
        c => c.name(),
    }
}

/// Replaces the manifest's layer descriptors (and with `to_oci`, its media types).
fn rewrite(doc: &mut Value, layers: &[LayerRef], to_oci: bool) -> Result<()> {
    let bad = |reason: &str| RegistryError::BadContent {
        what: "the stored manifest".into(),
        url: String::new(),
        reason: reason.to_owned(),
    };
    let obj = doc.as_object_mut().ok_or_else(|| bad("not an object"))?;
    if to_oci {
        obj.insert("mediaType".into(), Value::from(media::OCI_MANIFEST));
        if let Some(c) = obj.get_mut("config").and_then(Value::as_object_mut) {
            c.insert("mediaType".into(), Value::from(media::OCI_CONFIG));
        }
    }
    let list = obj
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("no layers"))?;
    if list.len() != layers.len() {
        return Err(bad("layer count changed"));
    }
    for (entry, layer) in list.iter_mut().zip(layers) {
        let e = entry
            .as_object_mut()
            .ok_or_else(|| bad("a layer is not an object"))?;
        e.insert("mediaType".into(), Value::from(layer.media_type.clone()));
        e.insert("digest".into(), Value::from(layer.digest.to_string()));
        e.insert("size".into(), Value::from(layer.size));
    }
    Ok(())
}

/// Blob digest → repositories on `registry` that store images using it (named in the
/// store as `registry/repo:tag`), for cross-repository mounts.
fn mount_sources(store: &Store, registry: &str) -> HashMap<Digest, Vec<String>> {
    let mut out: HashMap<Digest, Vec<String>> = HashMap::new();
    let Ok(images) = store.images() else {
        return out;
    };
    for stored in images {
        let repos: Vec<String> = stored
            .names
            .iter()
            .filter(|n| n.registry == registry)
            .map(|n| n.repository.clone())
            .collect();
        if repos.is_empty() {
            continue;
        }
        let Ok(image) = store.load_image(&stored.manifest) else {
            continue;
        };
        let Ok(layers) = image.layers() else {
            continue;
        };
        for d in layers.iter().map(|l| l.digest).chain([image.config_digest]) {
            let e = out.entry(d).or_default();
            for r in &repos {
                if !e.contains(r) {
                    e.push(r.clone());
                }
            }
        }
    }
    out
}

/// Where blobs go and what a push reports.
pub(crate) struct Uploads<'a> {
    pub store: &'a Store,
    pub client: &'a Client,
    pub repo: &'a str,
    /// Blob digest -> repositories of the registry to mount it from.
    pub mounts: &'a HashMap<Digest, Vec<String>>,
    pub opts: &'a RegistryOptions,
    pub progress: &'a Reporter,
}

/// Uploads blobs with `opts.jobs` threads.
pub(crate) fn upload_all(to: &Uploads, blobs: Vec<(Digest, u64)>) -> Result<Vec<BlobOutcome>> {
    let total = blobs.len();
    let queue = Mutex::new(blobs);
    let results: Mutex<Vec<BlobOutcome>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..to.opts.jobs.max(1).min(total.max(1)) {
            s.spawn(|| loop {
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let Some((digest, size)) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    return;
                };
                let path = to.store.blob_path(&digest);
                let job = BlobJob {
                    digest,
                    size,
                    path: &path,
                    mount_from: to.mounts.get(&digest).cloned().unwrap_or_default(),
                };
                match push_blob(to.client, to.repo, &job, to.opts.chunk_size, to.progress) {
                    Ok(o) => {
                        to.progress.done(&digest, o.end());
                        if let Ok(mut r) = results.lock() {
                            r.push(o);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results.into_inner().unwrap_or_default())
}

/// `PUT /v2/REPO/manifests/TAG` (or the digest when `dest` has no tag).
pub(crate) fn put_manifest(
    client: &Client,
    dest: &Reference,
    bytes: &[u8],
    media_type: &str,
    digest: &Digest,
) -> Result<()> {
    let target = dest.tag.clone().unwrap_or_else(|| digest.to_string());
    let url = client.url(&dest.repository, &format!("manifests/{target}"));
    let scope = format!("repository:{}:pull,push", dest.repository);
    let req = Req::new("PUT", url.clone(), &scope)
        .header("content-type", media_type.to_owned())
        .body(ReqBody::Bytes(bytes));
    let mut resp = client.send(&req)?;
    let status = resp.status().as_u16();
    if status != 201 && status != 200 && status != 202 {
        return Err(status_error("PUT", &url, &mut resp, &client.host));
    }
    if let Some(d) =
        header(&resp, "docker-content-digest").and_then(|h| Digest::parse(h.trim()).ok())
    {
        if d != *digest {
            return Err(RegistryError::DigestMismatch {
                what: "the pushed manifest (as the registry computed it)".into(),
                url,
                expected: *digest,
                actual: d,
            });
        }
    }
    Ok(())
}
