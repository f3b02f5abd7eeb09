//! Putting the result in the store and writing the extra outputs.

use super::error::{BuildError, RegistryOp};
use super::layer::store_err;
use super::options::Output;
use super::stage::StageResult;
use crate::config::ImageConfig;
use kiln_oci::{archive, layout, media, Digest, LayerRef, Store, StoredImage};
use std::path::Path;

/// The stored result.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub manifest: Digest,
    pub config: Digest,
}

pub(crate) fn store_image(
    store: &Store,
    config: &ImageConfig,
    layers: &[LayerRef],
) -> Result<StoredResult, BuildError> {
    let mut config = config.clone();
    config.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.to_string()).collect();
    // The manifest is OCI: layers of a Docker base get the OCI names of their types.
    let layers: Vec<LayerRef> = layers
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let oci = match l.media_type.as_str() {
                media::DOCKER_LAYER_GZIP => Some(media::OCI_LAYER_TAR_GZIP),
                media::DOCKER_LAYER_TAR => Some(media::OCI_LAYER_TAR),
                media::DOCKER_LAYER_FOREIGN_GZIP => Some(media::OCI_LAYER_NONDIST_TAR_GZIP),
                _ => None,
            };
            if let Some(t) = oci {
                l.media_type = t.to_owned();
            }
            l
        })
        .collect();
    let image = store
        .put_image_json(&config, &layers)
        .map_err(|e| store_err(store, e))?;
    Ok(StoredResult {
        manifest: image.manifest_digest,
        config: image.config_digest,
    })
}

pub(super) fn out_err(path: &Path, e: impl Into<super::error::Source>) -> BuildError {
    BuildError::Write {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Write one `--output`.
pub(crate) fn write(
    store: &Store,
    image: &StoredResult,
    result: &StageResult,
    out: &Output,
    opts: &super::BuildOptions,
) -> Result<Option<kiln_registry::Pushed>, BuildError> {
    let stored = || -> Result<StoredImage, BuildError> {
        store
            .lookup(&image.manifest.to_string())
            .map_err(|e| store_err(store, e))
    };
    if let Output::Registry(name) = out {
        return push(store, image, name, opts).map(Some);
    }
    match out {
        Output::Registry(_) => Ok(()),
        Output::OciDir(dir) => {
            layout::write_layout(store, &[stored()?], dir).map_err(|e| out_err(dir, e))
        }
        Output::OciArchive(file) | Output::DockerArchive(file) => {
            let f = std::fs::File::create(file).map_err(|e| out_err(file, e))?;
            let images = [stored()?];
            let f = if matches!(out, Output::OciArchive(_)) {
                archive::write_oci_archive(store, &images, f)
            } else {
                archive::write_docker_archive(store, &images, f)
            }
            .map_err(|e| out_err(file, e))?;
            f.sync_all().map_err(|e| out_err(file, e))
        }
        Output::Local(dir) => super::export_dir::export_rootfs(store, &result.layers, dir),
    }
    .map(|()| None)
}

/// Pushes the built image to `name`.
fn push(
    store: &Store,
    image: &StoredResult,
    name: &str,
    opts: &super::BuildOptions,
) -> Result<kiln_registry::Pushed, BuildError> {
    let dest = kiln_oci::Reference::parse_normalized(name).map_err(|e| BuildError::Option {
        message: format!("cannot push to {name:?}: {e}"),
    })?;
    let registry = opts.registry.clone().ok_or_else(|| BuildError::Output {
        message: format!("cannot push to {name}: registry access is off for this build"),
    })?;
    kiln_registry::push(store, &image.manifest, &dest, &opts.push, &registry).map_err(|e| {
        BuildError::Registry {
            op: RegistryOp::Push {
                image: image.manifest.to_string(),
                dest: dest.to_string(),
            },
            source: Box::new(e),
        }
    })
}
