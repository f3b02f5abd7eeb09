//! docker-archive (`docker save`) format: `manifest.json`
//! (`[{"Config","RepoTags","Layers"}]`), the config as `<hex>.json`, layers
//! as `<diff-id hex>/layer.tar` (uncompressed), and `repositories`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use super::tarindex::{normalize, TarIndex};
use super::{write_tar, ArchiveError, Content};
use crate::compression::{self, Compression};
use crate::digest::{Digest, DigestWriter};
use crate::image::{self, ImageConfiguration, LayerRef, MAX_CONFIG_BYTES, MAX_METADATA_BYTES};
use crate::media;
use crate::reference::Reference;
use crate::store::{Store, StoreError, StoredImage};

/// Most images accepted in one `manifest.json`.
const MAX_IMAGES: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// One image checked and ready to commit.
struct Planned {
    config_name: String,
    config_bytes: Vec<u8>,
    layers: Vec<(String, Compression, Digest)>,
    names: Vec<Reference>,
}

fn path_in_archive(idx: &TarIndex, field: &str, value: &str) -> Result<String, ArchiveError> {
    let bad = |reason: &str| ArchiveError::EntryPath {
        location: idx.location().to_owned(),
        entry: value.chars().take(300).collect(),
        reason: format!("(manifest.json {field}) {reason}"),
    };
    normalize(value)
        .map_err(bad)?
        .ok_or_else(|| bad("is empty"))
}

/// The digest a file name claims (`<hex>.json`, `blobs/sha256/<hex>`), if any.
fn claimed_digest(name: &str) -> Option<Digest> {
    let last = name.rsplit('/').next()?;
    Digest::from_hex(last.strip_suffix(".json").unwrap_or(last))
}

fn sniff(idx: &TarIndex, name: &str) -> Result<Compression, ArchiveError> {
    let mut head = [0u8; 6];
    let mut file = idx.open(name)?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file
            .read(&mut head[filled..])
            .map_err(|e| ArchiveError::Read {
                location: idx.location().to_owned(),
                source: e,
            })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(Compression::detect(&head[..filled]))
}

/// Loads every image of an indexed docker-archive.
pub(super) fn read(store: &Store, idx: &mut TarIndex) -> Result<Vec<StoredImage>, ArchiveError> {
    let location = idx.location().to_owned();
    let bytes = idx.read("manifest.json", MAX_METADATA_BYTES)?;
    let entries: Vec<Entry> = crate::json::parse(&bytes).map_err(|source| ArchiveError::Json {
        location: location.clone(),
        what: "manifest.json".to_owned(),
        source,
    })?;
    if entries.is_empty() || entries.len() > MAX_IMAGES {
        return Err(ArchiveError::Invalid {
            location,
            detail: format!(
                "manifest.json lists {} images; expected 1 to {MAX_IMAGES}",
                entries.len()
            ),
        });
    }
    let mut planned = Vec::new();
    for entry in &entries {
        planned.push(plan(idx, entry)?);
    }
    let mut out = Vec::new();
    for p in planned {
        out.push(commit(store, idx, p)?);
    }
    Ok(out)
}

/// Checks one image completely without committing anything.
fn plan(idx: &TarIndex, entry: &Entry) -> Result<Planned, ArchiveError> {
    let location = idx.location().to_owned();
    let config_name = path_in_archive(idx, "Config", &entry.config)?;
    let config_bytes = idx.read(&config_name, MAX_CONFIG_BYTES)?;
    let config_digest = Digest::of_bytes(&config_bytes);
    if let Some(claimed) = claimed_digest(&config_name) {
        if claimed != config_digest {
            return Err(ArchiveError::DigestMismatch {
                location,
                what: format!("config {config_name}"),
                expected: claimed,
                actual: config_digest,
            });
        }
    }
    let config: ImageConfiguration =
        crate::json::parse(&config_bytes).map_err(|source| ArchiveError::Json {
            location: location.clone(),
            what: format!("config {config_name}"),
            source,
        })?;
    let diff_ids = image::diff_ids(&config)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(ArchiveError::Invalid {
            location,
            detail: format!(
                "manifest.json lists {} layers for {config_name} but its rootfs.diff_ids has {}",
                entry.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (layer, diff_id) in entry.layers.iter().zip(diff_ids) {
        let name = path_in_archive(idx, "Layers", layer)?;
        let found = idx.get(&name).ok_or_else(|| ArchiveError::Missing {
            location: location.clone(),
            what: name.clone(),
        })?;
        let compression = sniff(idx, &name)?;
        match compression {
            Compression::None if found.digest != diff_id => {
                return Err(ArchiveError::DigestMismatch {
                    location,
                    what: format!("layer {name}"),
                    expected: diff_id,
                    actual: found.digest,
                })
            }
            Compression::Zstd | Compression::Xz | Compression::Bzip2 => {
                return Err(ArchiveError::Compression {
                    location,
                    what: format!("layer {name}"),
                    kind: compression.name(),
                })
            }
            Compression::None | Compression::Gzip => {}
        }
        layers.push((name, compression, diff_id));
    }
    let mut names = Vec::new();
    for tag in entry.repo_tags.iter().flatten() {
        let r = Reference::parse_normalized(tag).map_err(|source| ArchiveError::BadName {
            location: location.clone(),
            value: tag.chars().take(300).collect(),
            source: Box::new(source),
        })?;
        if r.tag.is_some() && !names.contains(&r) {
            names.push(r.without_digest());
        }
    }
    Ok(Planned {
        config_name,
        config_bytes,
        layers,
        names,
    })
}

/// Moves a planned image's blobs into the store and records it.
fn commit(store: &Store, idx: &mut TarIndex, p: Planned) -> Result<StoredImage, ArchiveError> {
    let location = idx.location().to_owned();
    let mut layers = Vec::new();
    for (name, compression, diff_id) in &p.layers {
        let size = if store.has_blob(diff_id) {
            store.blob_size(diff_id)?
        } else if *compression == Compression::Gzip {
            let decoder = compression::decoder(*compression, idx.open(name)?).map_err(|e| {
                ArchiveError::Read {
                    location: location.clone(),
                    source: io::Error::other(e),
                }
            })?;
            match store.put_blob_from(decoder, Some(diff_id)) {
                Ok((_, size)) => size,
                Err(StoreError::DigestMismatch { actual, .. }) => {
                    return Err(ArchiveError::DigestMismatch {
                        location,
                        what: format!("decompressed layer {name}"),
                        expected: *diff_id,
                        actual,
                    })
                }
                Err(StoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::InvalidInput
                        || source.kind() == io::ErrorKind::InvalidData
                        || source.kind() == io::ErrorKind::UnexpectedEof =>
                {
                    return Err(ArchiveError::Read { location, source })
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            idx.adopt(name)?;
            store.blob_size(diff_id)?
        };
        layers.push(LayerRef::uncompressed(*diff_id, size));
    }
    let (config_digest, config_size) = store.put_blob(&p.config_bytes)?;
    let manifest = image::oci_manifest(config_digest, config_size, &layers)?;
    let manifest_bytes =
        crate::json::to_canonical_vec(&manifest).map_err(|source| ArchiveError::Json {
            location: location.clone(),
            what: format!("manifest for {}", p.config_name),
            source,
        })?;
    let (manifest_digest, _) = store.put_blob(&manifest_bytes)?;
    Ok(store.register_image(&manifest_digest, &p.names)?)
}

/// Writes a docker-archive for `images` to `out`: deterministic, layers
/// uncompressed (gzip layers are decompressed and checked against their
/// diff-id; zstd layers are refused).
pub fn write_docker_archive<W: Write>(
    store: &Store,
    images: &[StoredImage],
    out: W,
) -> Result<W, ArchiveError> {
    let temp = store.temp_dir()?;
    let mut entries: BTreeMap<String, Content> = BTreeMap::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for stored in images {
        let image = store.load_image(&stored.manifest)?;
        let config_name = format!("{}.json", image.config_digest.hex());
        let config_bytes = store.read_blob(&image.config_digest, MAX_CONFIG_BYTES)?;
        entries.insert(config_name.clone(), Content::Bytes(config_bytes));
        let mut layer_names = Vec::new();
        for layer in image.layers()? {
            let dir = layer.diff_id.hex();
            let name = format!("{dir}/layer.tar");
            layer_names.push(name.clone());
            if entries.contains_key(&name) {
                continue;
            }
            let content = uncompressed_layer(store, &layer, temp.path())?;
            entries.insert(format!("{dir}/"), Content::Dir);
            entries.insert(name, content);
        }
        let top = image.layers()?.last().map(|l| l.diff_id.hex());
        for name in &stored.names {
            if let (Some(tag), Some(top)) = (&name.tag, &top) {
                repositories
                    .entry(name.familiar_name())
                    .or_default()
                    .insert(tag.clone(), top.clone());
            }
        }
        manifest.push(Entry {
            config: config_name,
            repo_tags: Some(stored.names.iter().map(Reference::familiar).collect()),
            layers: layer_names,
        });
    }
    let json_err = |what: &str, source| ArchiveError::Json {
        location: "(new docker-archive)".to_owned(),
        what: what.to_owned(),
        source,
    };
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| json_err("manifest.json", e))?;
    entries.insert("manifest.json".to_owned(), Content::Bytes(manifest_json));
    if !repositories.is_empty() {
        let repos = serde_json::to_vec(&repositories).map_err(|e| json_err("repositories", e))?;
        entries.insert("repositories".to_owned(), Content::Bytes(repos));
    }
    write_tar(out, &entries)
}

/// The uncompressed tar of a layer: the blob itself, or a verified
/// decompressed copy in `temp`.
fn uncompressed_layer(
    store: &Store,
    layer: &LayerRef,
    temp: &std::path::Path,
) -> Result<Content, ArchiveError> {
    let compression = media::layer_compression(&layer.media_type);
    let compression = match compression {
        Some(c) => c,
        None => Compression::detect(&{
            let mut head = Vec::new();
            store
                .open_blob(&layer.digest)?
                .take(6)
                .read_to_end(&mut head)
                .map_err(|e| ArchiveError::Io {
                    action: "read",
                    path: store.blob_path(&layer.digest),
                    source: e,
                })?;
            head
        }),
    };
    match compression {
        Compression::None => Ok(Content::File(
            store.blob_path(&layer.digest),
            store.blob_size(&layer.digest)?,
        )),
        Compression::Zstd | Compression::Xz | Compression::Bzip2 => {
            Err(ArchiveError::Compression {
                location: "(new docker-archive)".to_owned(),
                what: format!("layer {}", layer.digest),
                kind: compression.name(),
            })
        }
        Compression::Gzip => {
            let path = temp.join(layer.diff_id.hex());
            let io_err = |action, e| ArchiveError::Io {
                action,
                path: path.clone(),
                source: e,
            };
            let file = File::create(&path).map_err(|e| io_err("create", e))?;
            let mut writer = DigestWriter::new(io::BufWriter::new(file));
            let mut decoder = compression::decoder(compression, store.open_blob(&layer.digest)?)
                .map_err(|e| io_err("decompress into", io::Error::other(e)))?;
            io::copy(&mut decoder, &mut writer).map_err(|e| io_err("decompress into", e))?;
            let (buffered, digest, size) = writer.finish();
            buffered
                .into_inner()
                .map_err(|e| io_err("write", e.into_error()))?;
            if digest != layer.diff_id {
                return Err(ArchiveError::DigestMismatch {
                    location: store.blob_path(&layer.digest).display().to_string(),
                    what: "decompressed layer".to_owned(),
                    expected: layer.diff_id,
                    actual: digest,
                });
            }
            Ok(Content::File(path, size))
        }
    }
}
