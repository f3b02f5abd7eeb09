//! Writing a layout (`oci-layout`, `index.json`, `blobs/`) for stored images.

use super::*;

/// What a layout for some images consists of.
#[derive(Debug)]
pub(crate) struct LayoutPlan {
    /// Canonical `index.json`.
    pub(crate) index_json: Vec<u8>,
    /// Every blob, sorted and without duplicates.
    pub(crate) blobs: Vec<(Digest, u64)>,
}

/// Computes `index.json` and the blob list for `images`.
pub(crate) fn plan(store: &Store, images: &[StoredImage]) -> Result<LayoutPlan, LayoutError> {
    let mut descriptors = Vec::new();
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for stored in images {
        let image = store.load_image(&stored.manifest)?;
        let manifest_size = store.blob_size(&stored.manifest)?;
        let media_type = image::manifest_media_type(&image.manifest);
        blobs.push((stored.manifest, manifest_size));
        let config = image.manifest.config();
        blobs.push((descriptor_digest(config, "config")?, config.size()));
        for layer in image.layers()? {
            blobs.push((layer.digest, layer.size));
        }
        let base = image::descriptor(&media_type, stored.manifest, manifest_size);
        if stored.names.is_empty() {
            descriptors.push(base.clone());
        }
        for name in &stored.names {
            let mut d = base.clone();
            let full = name.to_string();
            d.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_owned(), full.clone()),
                (ANNOTATION_CONTAINERD_NAME.to_owned(), full),
            ])));
            descriptors.push(d);
        }
    }
    blobs.sort();
    blobs.dedup();
    blobs.dedup_by_key(|(d, _)| *d);
    // Sizes from the store itself: the tar headers must match the files.
    for (digest, size) in &mut blobs {
        *size = store.blob_size(digest)?;
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(descriptors)
        .build()
        .map_err(|source| ImageError::Build {
            what: "image index",
            source,
        })?;
    let index_json = crate::json::to_canonical_vec(&index).map_err(|source| LayoutError::Json {
        what: "index.json".to_owned(),
        location: "(new layout)".to_owned(),
        source,
    })?;
    Ok(LayoutPlan { index_json, blobs })
}

/// Writes an OCI image layout for `images` into `dir`, which must not exist or be empty.
pub fn write_layout(store: &Store, images: &[StoredImage], dir: &Path) -> Result<(), LayoutError> {
    let plan = plan(store, images)?;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(LayoutError::NotEmpty(dir.to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_err("create directory", dir, e))?;
        }
        Err(e) => return Err(io_err("list", dir, e)),
    }
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| io_err("create directory", &blobs_dir, e))?;
    write_file(&dir.join("oci-layout"), OCI_LAYOUT_FILE)?;
    for (digest, _) in &plan.blobs {
        let dest = blobs_dir.join(digest.hex());
        let mut src = store.blob_reader(digest)?;
        let out = File::create(&dest).map_err(|e| io_err("create", &dest, e))?;
        // Layers holding sparse files keep their holes (see `crate::sparse`).
        let mut out = crate::sparse::SparseFile::new(out);
        io::copy(&mut src, &mut out)
            .and_then(|_| out.finish().map(drop))
            .map_err(|e| io_err("write", &dest, e))?;
    }
    write_file(&dir.join("index.json"), &plan.index_json)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| io_err("write", path, e))
}
