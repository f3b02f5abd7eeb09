//! Image records: writing an image's config and manifest, naming, looking up and
//! removing images (`images.json`, changed only under the index lock).

use super::find::{find, MIN_ID_PREFIX};
use super::index::{self, Record};
use super::{gc, Store, StoreError};
use crate::digest::Digest;
use crate::image::{
    self, descriptor_digest, Image, ImageConfiguration, ImageManifest, LayerRef, MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
};
use crate::reference::Reference;

/// An image record: manifest, config (the image ID) and names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    /// Digest of the manifest blob.
    pub manifest: Digest,
    /// Digest of the config blob: the image ID shown to users.
    pub config: Digest,
    /// Names (normalised, tagged), in the order they were given.
    pub names: Vec<Reference>,
    /// When the image entered this store, RFC 3339 UTC.
    pub created: String,
}

impl StoredImage {
    /// The short image ID: the first 12 hex digits of the config digest.
    pub fn short_id(&self) -> String {
        self.config.hex().chars().take(MIN_ID_PREFIX).collect()
    }
}

/// What [`Store::remove`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Names removed.
    pub untagged: Vec<Reference>,
    /// The image record deleted, if no names remained (or it was removed by ID).
    pub deleted: Option<StoredImage>,
    /// Blobs deleted because no remaining image referenced them.
    pub blobs_deleted: Vec<Digest>,
}

impl Store {
    pub(crate) fn records(&self) -> Result<Vec<Record>, StoreError> {
        index::read(&self.index_path())
    }

    pub(crate) fn save_records(&self, records: &[Record]) -> Result<(), StoreError> {
        index::write(&self.index_path(), &self.tmp_dir()?, records)
    }

    /// All images, in the order they entered the store.
    pub fn images(&self) -> Result<Vec<StoredImage>, StoreError> {
        let path = self.index_path();
        self.records()?.iter().map(|r| r.to_stored(&path)).collect()
    }

    /// Writes `config` and an OCI manifest for it and `layers`, and records the
    /// image (without names; see [`Store::tag`]). The config's `rootfs` is set
    /// from the layers' diff-ids. Both are written as canonical JSON, so equal
    /// inputs give equal digests. The layer blobs must already be in the store.
    pub fn put_image(
        &self,
        config: &ImageConfiguration,
        layers: &[LayerRef],
    ) -> Result<Image, StoreError> {
        let mut config = config.clone();
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id).collect();
        image::set_diff_ids(&mut config, &diff_ids);
        self.put_image_json(&config, layers)
    }

    /// Writes an image whose config is any serialisable superset of the OCI config (for
    /// example with Docker's `Healthcheck`, `OnBuild` and `Shell` fields, which the OCI
    /// types drop). The config must already list the layers' diff-ids.
    pub fn put_image_json<T: serde::Serialize>(
        &self,
        config: &T,
        layers: &[LayerRef],
    ) -> Result<Image, StoreError> {
        let config_bytes =
            crate::json::to_canonical_vec(config).map_err(|source| StoreError::Json {
                what: "image config".to_owned(),
                source,
            })?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|source| StoreError::Json {
                what: "image config".to_owned(),
                source,
            })?;
        let (config_digest, config_size) = self.put_blob(&config_bytes)?;
        let manifest = image::oci_manifest(config_digest, config_size, layers)?;
        let manifest_bytes =
            crate::json::to_canonical_vec(&manifest).map_err(|source| StoreError::Json {
                what: "image manifest".to_owned(),
                source,
            })?;
        let (manifest_digest, _) = self.put_blob(&manifest_bytes)?;
        let image = Image {
            manifest_digest,
            manifest,
            config_digest,
            config,
        };
        self.record(&image, &[], Some((&config_bytes, &manifest_bytes)))?;
        Ok(image)
    }

    /// Records an image whose manifest, config and layer blobs are all in the
    /// store, and gives it `names` (moving them from other images).
    pub fn register_image(
        &self,
        manifest: &Digest,
        names: &[Reference],
    ) -> Result<StoredImage, StoreError> {
        let image = self.load_image(manifest)?;
        self.record(&image, names, None)
    }

    /// Adds the record under the lock, checking (and if given, rewriting)
    /// the blobs, so a concurrent `remove` cannot leave it dangling.
    fn record(
        &self,
        image: &Image,
        names: &[Reference],
        rewrite: Option<(&[u8], &[u8])>,
    ) -> Result<StoredImage, StoreError> {
        for name in names {
            if name.tag.is_none() {
                return Err(StoreError::TagRequired(name.clone()));
            }
        }
        let layers = image.layers()?;
        let _lock = self.lock()?;
        if let Some((config_bytes, manifest_bytes)) = rewrite {
            self.put_blob(config_bytes)?;
            self.put_blob(manifest_bytes)?;
        }
        let needed = [image.manifest_digest, image.config_digest]
            .into_iter()
            .chain(layers.iter().map(|l| l.digest));
        for blob in needed {
            if !self.has_blob(&blob) {
                return Err(StoreError::BlobMissing {
                    manifest: image.manifest_digest,
                    blob,
                });
            }
        }
        let mut records = self.records()?;
        let position = match records
            .iter()
            .position(|r| r.manifest == image.manifest_digest)
        {
            Some(p) => p,
            None => {
                records.push(Record {
                    manifest: image.manifest_digest,
                    config: image.config_digest,
                    names: Vec::new(),
                    created: crate::time::now_rfc3339(),
                });
                records.len() - 1
            }
        };
        for name in names {
            move_name(&mut records, position, &name.without_digest().to_string());
        }
        self.save_records(&records)?;
        let path = self.index_path();
        records
            .get(position)
            .ok_or_else(|| StoreError::ImageNotFound(image.manifest_digest.to_string()))?
            .to_stored(&path)
    }

    /// Gives the image with this manifest the name `r` (which must have a tag;
    /// a digest in `r` is ignored). The name moves away from any image that had it.
    pub fn tag(&self, r: &Reference, manifest: &Digest) -> Result<(), StoreError> {
        if r.tag.is_none() {
            return Err(StoreError::TagRequired(r.clone()));
        }
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let position = records
            .iter()
            .position(|rec| rec.manifest == *manifest)
            .ok_or_else(|| StoreError::ImageNotFound(manifest.to_string()))?;
        move_name(&mut records, position, &r.without_digest().to_string());
        self.save_records(&records)
    }

    /// Removes the name `r` from its image; the image stays (possibly unnamed).
    pub fn untag(&self, r: &Reference) -> Result<(), StoreError> {
        let name = r.without_digest().to_string();
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let mut found = false;
        for rec in &mut records {
            let before = rec.names.len();
            rec.names.retain(|n| *n != name);
            found |= rec.names.len() != before;
        }
        if !found {
            return Err(StoreError::ImageNotFound(r.familiar()));
        }
        self.save_records(&records)
    }

    /// Finds an image by normalised name (`debian` = `docker.io/library/debian:latest`),
    /// by `name@sha256:…` or full manifest digest, or by image ID (config
    /// digest, `sha256:…` or a unique hex prefix of at least 12 digits).
    pub fn lookup(&self, name_or_id: &str) -> Result<StoredImage, StoreError> {
        let records = self.records()?;
        let index = find(&records, name_or_id)?;
        records
            .get(index)
            .ok_or_else(|| StoreError::ImageNotFound(name_or_id.to_owned()))?
            .to_stored(&self.index_path())
    }

    /// `rmi`: a name removes that name, and the image once no names remain;
    /// an ID or digest removes the image with all its names. Blobs no longer
    /// referenced by any remaining image are deleted (unpacked layer
    /// directories are left to the engine).
    pub fn remove(&self, name_or_id: &str) -> Result<Removed, StoreError> {
        let _lock = self.lock()?;
        let mut records = self.records()?;
        let path = self.index_path();
        let index = find(&records, name_or_id)?;
        let by_name = Reference::parse_normalized(name_or_id)
            .ok()
            .filter(|r| r.digest.is_none())
            .map(|r| r.to_string())
            .filter(|n| records.get(index).is_some_and(|rec| rec.names.contains(n)));
        let mut removed = Removed {
            untagged: Vec::new(),
            deleted: None,
            blobs_deleted: Vec::new(),
        };
        let Some(record) = records.get_mut(index) else {
            return Err(StoreError::ImageNotFound(name_or_id.to_owned()));
        };
        let untagged: Vec<String> = match by_name {
            Some(name) => {
                record.names.retain(|n| *n != name);
                vec![name]
            }
            None => std::mem::take(&mut record.names),
        };
        removed.untagged = untagged
            .iter()
            .filter_map(|n| Reference::parse_normalized(n).ok())
            .collect();
        if !record.names.is_empty() {
            self.save_records(&records)?;
            return Ok(removed);
        }
        let record = records.remove(index);
        let mut stored = record.to_stored(&path)?;
        stored.names = removed.untagged.clone();
        self.save_records(&records)?;
        removed.deleted = Some(stored);
        removed.blobs_deleted = self.delete_unreferenced(&record, &records)?;
        Ok(removed)
    }

    /// Deletes the blobs of `gone` that no remaining image or step-cache
    /// record uses and no running process has used since it started. If any
    /// manifest cannot be read, nothing is deleted (`kiln prune` collects it
    /// once `kiln store verify --repair` has dealt with the damage).
    fn delete_unreferenced(
        &self,
        gone: &Record,
        remaining: &[Record],
    ) -> Result<Vec<Digest>, StoreError> {
        let mut roots = gc::Roots::of_images(self, remaining);
        let (steps, bad_steps) = self.step_records()?;
        roots.add_steps(&steps);
        if !roots.unreadable.is_empty() || !bad_steps.is_empty() {
            return Ok(Vec::new());
        }
        let mut candidates = vec![gone.manifest, gone.config];
        if let Ok(blobs) = self.manifest_blobs(&gone.manifest) {
            candidates.extend(blobs);
        }
        let swept = gc::sweep_blobs(self, &roots, Some(&candidates))?;
        Ok(swept.into_iter().map(|(d, _)| d).collect())
    }

    /// Config and layer blobs named by a manifest.
    pub(crate) fn manifest_blobs(&self, manifest: &Digest) -> Result<Vec<Digest>, StoreError> {
        let m: ImageManifest = self.read_blob_json(manifest, MAX_MANIFEST_BYTES)?;
        let mut out = vec![descriptor_digest(m.config(), "config")?];
        for (i, l) in m.layers().iter().enumerate() {
            out.push(descriptor_digest(l, &format!("layer {i}"))?);
        }
        Ok(out)
    }

    /// Reads an image's manifest and config (size-capped, digest-verified).
    pub fn load_image(&self, manifest: &Digest) -> Result<Image, StoreError> {
        let m: ImageManifest = self.read_blob_json(manifest, MAX_MANIFEST_BYTES)?;
        let config_digest = descriptor_digest(m.config(), "config")?;
        let config: ImageConfiguration = self.read_blob_json(&config_digest, MAX_CONFIG_BYTES)?;
        let image = Image {
            manifest_digest: *manifest,
            manifest: m,
            config_digest,
            config,
        };
        // Validate diff-ids and layer count up front.
        image.layers()?;
        Ok(image)
    }
}

/// Moves `name` onto `records[target]`, removing it from all others.
fn move_name(records: &mut [Record], target: usize, name: &str) {
    for (i, rec) in records.iter_mut().enumerate() {
        if i == target {
            if !rec.names.iter().any(|n| n == name) {
                rec.names.push(name.to_owned());
            }
        } else {
            rec.names.retain(|n| n != name);
        }
    }
}
