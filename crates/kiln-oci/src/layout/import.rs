//! Importing a layout into the store: plan every image, then copy and verify its blobs.

use super::dir_source::DirSource;
use super::*;

/// Imports the OCI layout directory `dir` into the store.
pub fn read_layout(store: &Store, dir: &Path) -> Result<Vec<StoredImage>, LayoutError> {
    let mut source = DirSource {
        dir: dir.to_owned(),
    };
    import(store, &mut source)
}
/// One image to import: its blobs (in commit order) and names.
struct Planned {
    manifest: Digest,
    blobs: Vec<(Digest, u64)>,
    names: Vec<Reference>,
}
/// Imports a layout from any source: plans every image (reading and checking
/// manifests, configs and blob presence), then copies blobs and records images.
pub(crate) fn import(
    store: &Store,
    source: &mut dyn Source,
) -> Result<Vec<StoredImage>, LayoutError> {
    let location = source.location();
    let layout = source
        .read_file("oci-layout", MAX_METADATA_BYTES)?
        .ok_or_else(|| LayoutError::Missing {
            what: "oci-layout".to_owned(),
            location: location.clone(),
        })?;
    #[derive(serde::Deserialize)]
    struct LayoutFile {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: LayoutFile = parse_json(&layout, "oci-layout", &location)?;
    if !layout.version.starts_with("1.") {
        return Err(LayoutError::Version {
            location,
            version: layout.version,
        });
    }
    let index = source
        .read_file("index.json", MAX_METADATA_BYTES)?
        .ok_or_else(|| LayoutError::Missing {
            what: "index.json".to_owned(),
            location: location.clone(),
        })?;
    let index: ImageIndex = parse_json(&index, "index.json", &location)?;
    if index.manifests().len() > MAX_DESCRIPTORS {
        return Err(LayoutError::Limits {
            location,
            what: format!("index.json has more than {MAX_DESCRIPTORS} descriptors"),
        });
    }
    let mut planned: Vec<Planned> = Vec::new();
    let mut skipped = 0;
    for (i, desc) in index.manifests().iter().enumerate() {
        let what = format!("index.json manifests[{i}]");
        let names = names_from(desc, &location)?;
        let Some(manifest_desc) = resolve(source, desc, &what, 0)? else {
            skipped += 1;
            continue;
        };
        let digest = desc_digest(&manifest_desc, &what, &location)?;
        if let Some(p) = planned.iter_mut().find(|p| p.manifest == digest) {
            for n in names {
                if !p.names.contains(&n) {
                    p.names.push(n);
                }
            }
            continue;
        }
        let blobs = plan_manifest(source, &manifest_desc, &what)?;
        planned.push(Planned {
            manifest: digest,
            blobs,
            names,
        });
    }
    if planned.is_empty() {
        return Err(LayoutError::NoImages { location, skipped });
    }
    let mut out = Vec::new();
    for p in planned {
        for (digest, size) in &p.blobs {
            source.commit_blob(store, digest, *size)?;
        }
        out.push(store.register_image(&p.manifest, &p.names)?);
    }
    Ok(out)
}

/// Image names from a descriptor's annotations (see the module docs).
fn names_from(desc: &Descriptor, location: &str) -> Result<Vec<Reference>, LayoutError> {
    let Some(annotations) = desc.annotations() else {
        return Ok(Vec::new());
    };
    let value = match (
        annotations.get(ANNOTATION_CONTAINERD_NAME),
        annotations.get(ANNOTATION_REF_NAME),
    ) {
        (Some(full), _) => full,
        (None, Some(r)) if r.contains(['/', ':']) => r,
        _ => return Ok(Vec::new()),
    };
    let r = Reference::parse_normalized(value).map_err(|source| LayoutError::BadName {
        value: value.chars().take(300).collect(),
        location: location.to_owned(),
        source: Box::new(source),
    })?;
    Ok(if r.tag.is_some() {
        vec![r.without_digest()]
    } else {
        Vec::new()
    })
}

/// Follows indexes down to one image manifest descriptor; `None` for other content.
fn resolve(
    source: &mut dyn Source,
    desc: &Descriptor,
    what: &str,
    depth: usize,
) -> Result<Option<Descriptor>, LayoutError> {
    let location = source.location();
    let media_type = desc.media_type().to_string();
    if media::is_manifest(&media_type) {
        return Ok(Some(desc.clone()));
    }
    if !media::is_index(&media_type) {
        return Ok(None);
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(LayoutError::Limits {
            location,
            what: format!("indexes nest more than {MAX_INDEX_DEPTH} levels deep"),
        });
    }
    let digest = desc_digest(desc, what, &location)?;
    let bytes = source.read_blob(&digest, desc.size(), MAX_MANIFEST_BYTES)?;
    let index: ImageIndex = parse_json(&bytes, &format!("index {digest}"), &location)?;
    let wanted = image::host_arch();
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| {
            let mt = d.media_type().to_string();
            media::is_manifest(&mt) || media::is_index(&mt)
        })
        .collect();
    let matching = candidates.iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux" && p.architecture().to_string() == wanted
        })
    });
    let chosen = match (matching, candidates.as_slice()) {
        (Some(d), _) => *d,
        (None, [only]) => *only,
        (None, _) => {
            let available: Vec<String> = candidates
                .iter()
                .map(|d| match d.platform() {
                    Some(p) => format!("{}/{}", p.os(), p.architecture()),
                    None => "unknown".to_owned(),
                })
                .collect();
            return Err(LayoutError::NoMatchingPlatform {
                location,
                index: digest,
                wanted: wanted.to_owned(),
                available: if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                },
            });
        }
    };
    resolve(source, chosen, &format!("index {digest}"), depth + 1)
}

/// Reads and checks a manifest, its config and the presence of its layers;
/// returns the blobs to commit (layers, config, manifest).
fn plan_manifest(
    source: &mut dyn Source,
    desc: &Descriptor,
    what: &str,
) -> Result<Vec<(Digest, u64)>, LayoutError> {
    let location = source.location();
    let digest = desc_digest(desc, what, &location)?;
    let bytes = source.read_blob(&digest, desc.size(), MAX_MANIFEST_BYTES)?;
    let manifest: ImageManifest = parse_json(&bytes, &format!("manifest {digest}"), &location)?;
    let config_desc = manifest.config();
    let config_digest = desc_digest(config_desc, &format!("config of {digest}"), &location)?;
    let config_bytes = source.read_blob(&config_digest, config_desc.size(), MAX_CONFIG_BYTES)?;
    let config: ImageConfiguration =
        parse_json(&config_bytes, &format!("config {config_digest}"), &location)?;
    let diff_ids = image::diff_ids(&config)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::LayerCount {
            manifest: digest,
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        }
        .into());
    }
    let mut blobs = Vec::new();
    for (i, layer) in manifest.layers().iter().enumerate() {
        let layer_digest = desc_digest(layer, &format!("layer {i} of {digest}"), &location)?;
        source.check_blob(&layer_digest, layer.size())?;
        blobs.push((layer_digest, layer.size()));
    }
    blobs.push((config_digest, config_desc.size()));
    blobs.push((digest, desc.size()));
    Ok(blobs)
}
