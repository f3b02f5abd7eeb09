//! `kiln pull`: resolve a reference (tag or digest, through an index for the wanted
//! platform), fetch the config and the layers the store lacks in parallel, each verified
//! against its digest while it streams into the store, then record the image.

use crate::client::{status_error, Client, Req};
use crate::error::{RegistryError, Result};
use crate::manifest::{self, Fetched};
use crate::progress::{BlobEnd, Reporter, Transfer, TransferKind};
use crate::{Platform, RegistryOptions};
use kiln_oci::image::{ImageManifest, MAX_CONFIG_BYTES};
use kiln_oci::{media, Digest, Reference, Store, StoreError, StoredImage};
use std::io::{Read, Write};
use std::sync::Mutex;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image as recorded in the store.
    pub image: StoredImage,
    /// The manifest digest.
    pub manifest: Digest,
    /// Blobs downloaded.
    pub fetched: usize,
    /// Blobs the store had already.
    pub present: usize,
}

/// The manifest for `reference` (and `platform`, for an index), fetched and verified.
fn resolve_manifest(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
) -> Result<Fetched> {
    let scope = format!("repository:{}:pull", reference.repository);
    let target = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_owned(),
    };
    let first = manifest::get(client, &reference.repository, &target, &scope)?;
    if !media::is_index(&first.media_type) {
        return Ok(first);
    }
    let chosen = manifest::select(&first, platform, &reference.familiar())?;
    let m = manifest::get(client, &reference.repository, &chosen.to_string(), &scope)?;
    if !media::is_manifest(&m.media_type) {
        return Err(RegistryError::BadContent {
            what: format!("manifest {chosen}"),
            url: client.url(&reference.repository, &format!("manifests/{chosen}")),
            reason: "an index entry for the platform is not an image manifest".into(),
        });
    }
    Ok(m)
}

/// The manifest digest `reference` points to now for `platform` (for `--pull` checks:
/// compare with the store's image).
pub fn resolve(
    reference: &Reference,
    platform: &Platform,
    opts: &RegistryOptions,
) -> Result<Digest> {
    let client = Client::connect(&reference.registry, opts, None)?;
    Ok(resolve_manifest(&client, reference, platform)?.digest)
}

/// Pulls `reference` into `store` and names it (when it has a tag).
pub fn pull(
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    opts: &RegistryOptions,
) -> Result<Pulled> {
    let progress = Reporter::new(&opts.progress, Transfer::Pull, reference);
    progress.emit(TransferKind::Begin);
    let client = Client::connect(&reference.registry, opts, None)?;
    let m = resolve_manifest(&client, reference, platform)?;
    let blobs = image_blobs(&client, reference, &m)?;
    let (needed, present): (Vec<_>, Vec<_>) =
        blobs.into_iter().partition(|(d, _)| !store.has_blob(d));
    for (digest, _) in &present {
        progress.done(digest, BlobEnd::Existed);
    }
    fetch_all(
        &client,
        store,
        &reference.repository,
        &needed,
        opts,
        &progress,
    )?;
    store.put_blob(&m.bytes)?;
    let names: Vec<Reference> = match &reference.tag {
        Some(_) => vec![reference.without_digest()],
        None => Vec::new(),
    };
    let image = store.register_image(&m.digest, &names)?;
    Ok(Pulled {
        image,
        manifest: m.digest,
        fetched: needed.len(),
        present: present.len(),
    })
}

/// The config and layer blobs (digest, size) of image manifest `m`, checked: a config of
/// an image (not an artifact) within the size limit, layers kiln can unpack.
fn image_blobs(client: &Client, reference: &Reference, m: &Fetched) -> Result<Vec<(Digest, u64)>> {
    let url = client.url(&reference.repository, &format!("manifests/{}", m.digest));
    let parsed: ImageManifest =
        serde_json::from_slice(&m.bytes).map_err(|e| RegistryError::BadContent {
            what: format!("manifest {}", m.digest),
            url: url.clone(),
            reason: format!("not a valid image manifest: {e}"),
        })?;
    let config = parsed.config();
    let config_type = config.media_type().to_string();
    if !media::is_config(&config_type) {
        return Err(RegistryError::BadContent {
            what: format!("manifest {}", m.digest),
            url,
            reason: format!(
                "its config has media type {config_type:?}: this is not a container image (an artifact?), kiln pulls images only"
            ),
        });
    }
    let config_digest = descriptor(config.digest().as_ref(), &url)?;
    if config.size() > MAX_CONFIG_BYTES {
        return Err(RegistryError::TooLarge {
            what: format!("config {config_digest}"),
            url,
            max: MAX_CONFIG_BYTES,
        });
    }
    let mut blobs = vec![(config_digest, config.size())];
    for layer in parsed.layers() {
        let mt = layer.media_type().to_string();
        if media::layer_compression(&mt).is_none() {
            return Err(RegistryError::BadContent {
                what: format!("manifest {}", m.digest),
                url,
                reason: format!("layer media type {mt:?} is not a layer kiln can unpack"),
            });
        }
        blobs.push((descriptor(layer.digest().as_ref(), &url)?, layer.size()));
    }
    Ok(blobs)
}

/// Downloads `needed` blobs with `opts.jobs` threads; the first failure stops the rest.
fn fetch_all(
    client: &Client,
    store: &Store,
    repo: &str,
    needed: &[(Digest, u64)],
    opts: &RegistryOptions,
    progress: &Reporter,
) -> Result<()> {
    let scope = format!("repository:{repo}:pull");
    let queue = Mutex::new(needed.to_vec());
    let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(needed.len().max(1)) {
            s.spawn(|| loop {
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let Some((digest, size)) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    return;
                };
                progress.started(&digest, size);
                let blob = BlobFetch {
                    client,
                    store,
                    repo,
                    scope: &scope,
                    digest: &digest,
                    size,
                    progress,
                };
                if let Err(e) = fetch_blob(&blob) {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e);
                    }
                    return;
                }
                progress.done(&digest, BlobEnd::Transferred);
            });
        }
    });
    match failure.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn descriptor(value: &str, url: &str) -> Result<Digest> {
    Digest::parse(value).map_err(|e| RegistryError::BadContent {
        what: "a descriptor".into(),
        url: url.to_owned(),
        reason: format!(
            "unsupported digest {:?}: {e}",
            value.chars().take(100).collect::<String>()
        ),
    })
}

/// One blob to download.
struct BlobFetch<'a> {
    client: &'a Client,
    store: &'a Store,
    repo: &'a str,
    scope: &'a str,
    digest: &'a Digest,
    size: u64,
    progress: &'a Reporter,
}

/// Downloads one blob into the store, verifying size and digest. After a broken
/// connection it continues with a `Range` request (or starts over if the registry
/// ignores ranges). Nothing is stored unless the digest matches.
fn fetch_blob(blob: &BlobFetch) -> Result<()> {
    let BlobFetch {
        client,
        store,
        repo,
        scope,
        digest,
        size,
        progress,
    } = *blob;
    let url = client.url(repo, &format!("blobs/{digest}"));
    let mut writer = store.blob_writer()?;
    let mut failures = 0u32;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let from = writer.written();
        let mut req = Req::new("GET", url.clone(), scope);
        if from > 0 {
            req = req.header("range", format!("bytes={from}-"));
        }
        let mut resp = client.send(&req)?;
        match resp.status().as_u16() {
            200 if from > 0 => writer = store.blob_writer()?,
            200 | 206 => {}
            _ => return Err(status_error("GET", &url, &mut resp, &client.host)),
        }
        let mut body = resp.into_body().into_reader();
        let broken = loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => n,
                Err(e) => break Some(e.to_string()),
            };
            if writer.written() + n as u64 > size {
                return Err(RegistryError::TooLarge {
                    what: format!("blob {digest}"),
                    url,
                    max: size,
                });
            }
            let chunk = buf.get(..n).unwrap_or(&buf);
            writer
                .write_all(chunk)
                .map_err(|source| RegistryError::Io {
                    action: "write a blob into",
                    path: writer.temp_path().to_path_buf(),
                    source,
                })?;
            progress.advanced(digest, writer.written(), size);
        };
        let short = writer.written() < size;
        if broken.is_none() && !short {
            break;
        }
        failures += 1;
        if failures >= client.retry.attempts {
            return Err(RegistryError::Connect {
                url,
                message: broken.unwrap_or_else(|| {
                    format!("the body ended after {} of {size} bytes", writer.written())
                }),
                hint: "the connection keeps breaking; try again later".into(),
            });
        }
        std::thread::sleep(client.retry.delay(failures, None));
    }
    match writer.commit(Some(digest)) {
        Ok(_) => Ok(()),
        Err(StoreError::DigestMismatch {
            expected, actual, ..
        }) => Err(RegistryError::DigestMismatch {
            what: format!("blob {digest}"),
            url,
            expected,
            actual,
        }),
        Err(e) => Err(e.into()),
    }
}
