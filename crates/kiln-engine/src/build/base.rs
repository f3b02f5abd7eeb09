//! The start of a stage: an empty root (scratch), an image from the store, or an earlier
//! stage's result; the root filesystem is materialised by unpacking the layers.

use super::error::{BuildError, RegistryOp};
use super::layer::store_err;
use super::stage::StageResult;
use crate::config::ImageConfig;
use kiln_dockerfile::Span;
use kiln_layer::{ExtractOptions, Root, WhiteoutMode};
use kiln_oci::Platform;
use kiln_oci::{Digest, LayerRef, Store};
use std::path::Path;

/// A root filesystem being built, in the store's scratch space.
#[derive(Debug)]
pub struct Rootfs {
    pub dir: tempfile::TempDir,
    pub root: Root,
}

impl Rootfs {
    pub fn new(scratch: &Path) -> Result<Rootfs, BuildError> {
        let io = |e: std::io::Error| BuildError::Store {
            root: scratch.display().to_string(),
            what: "cannot make a working directory".into(),
            source: e.into(),
        };
        let dir = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(scratch)
            .map_err(io)?;
        // The root directory of an image is 0755 root:root.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(io)?;
        let root = Root::open(dir.path()).map_err(|e| BuildError::Store {
            root: scratch.display().to_string(),
            what: String::new(),
            source: e.into(),
        })?;
        Ok(Rootfs { dir, root })
    }

    /// Unpack layers (bottom first) into this root, applying whiteouts.
    pub fn unpack(&self, store: &Store, layers: &[LayerRef]) -> Result<(), BuildError> {
        unpack_layers(store, layers, &self.root).map_err(|e| store_err(store, e))
    }
}

/// Unpack `layers` (bottom first) into `root`: whiteouts applied, owners and device nodes
/// restored when running as root.
pub fn unpack_layers(store: &Store, layers: &[LayerRef], root: &Root) -> Result<(), String> {
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        same_owner: true,
        devices: true,
        record_paths: false,
    };
    for l in layers {
        let blob = store
            .blob_reader(&l.digest)
            .map_err(|e| format!("layer {}: {e}", l.digest))?;
        let (_, reader) = kiln_oci::compression::decompress(blob)
            .map_err(|e| format!("layer {}: {e}", l.digest))?;
        kiln_layer::extract(reader, root, &opts).map_err(|e| format!("layer {}: {e}", l.digest))?;
    }
    Ok(())
}

/// An image from the store: its config and layers.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// The manifest digest, for images from the store (the base of the cache key).
    pub manifest: Option<Digest>,
}

/// An empty image for `FROM scratch`; its working directory is `/`, as BuildKit records.
pub fn scratch(platform: &Platform) -> BaseImage {
    let mut config = ImageConfig {
        architecture: platform.arch.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        ..ImageConfig::default()
    };
    config.config.working_dir = "/".into();
    BaseImage {
        config,
        layers: Vec::new(),
        manifest: None,
    }
}

/// How image names become images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolve {
    /// The image the store has under that name; pulled from its registry if the store
    /// has none.
    #[default]
    Local,
    /// `--pull`: resolve the name again at its registry, even if the store has it.
    Pull,
}

/// The single place where a FROM, `COPY --from` or `RUN --mount from=` image name is
/// resolved to a manifest. A build asks once per name ([`Images::resolve`](super::images::Images::resolve)), so
/// every step that names an image sees the same one and `--pull` asks its registry once.
pub(crate) fn resolve(
    store: &Store,
    registry: Option<&kiln_registry::RegistryOptions>,
    name: &str,
    span: Span,
    platform: &Platform,
    mode: Resolve,
) -> Result<kiln_oci::StoredImage, BuildError> {
    let stored = match (mode, store.lookup(name), registry) {
        (Resolve::Local, Ok(s), _) => s,
        (Resolve::Pull, _, Some(opts)) | (Resolve::Local, Err(_), Some(opts)) => {
            pull(store, opts, name, span, platform)?
        }
        (Resolve::Pull, Ok(s), None) => s,
        (_, Err(e), None) => return Err(BuildError::refused(
            span,
            format!("base image {name} is not in the store"),
            Some("make the image with `kiln pull`, `kiln import`, `kiln load` or an earlier build"),
            e,
        )),
    };
    // Marks its blobs used, so a concurrent `rmi` + prune cannot take them away
    // before this build has referenced them.
    store
        .retain_image(&stored.manifest)
        .map_err(|e| store_err(store, e))?;
    Ok(stored)
}

/// The stored image `name` resolved to, checked to be for `platform`.
pub(crate) fn load_for(
    store: &Store,
    stored: &kiln_oci::StoredImage,
    name: &str,
    span: Span,
    platform: &Platform,
) -> Result<BaseImage, BuildError> {
    let mut base = load(store, &stored.manifest)?;
    base.manifest = Some(stored.manifest);
    if base.config.os != platform.os || base.config.architecture != platform.arch {
        return Err(BuildError::step(
            span,
            format!(
                "image {name} is for {}/{}, but the build is for {platform}",
                base.config.os, base.config.architecture
            ),
        )
        .with_hint(
            "build for the image's platform with --platform, or use an image for this one",
        ));
    }
    Ok(base)
}

/// Pulls `name` for `platform` into the store.
pub fn pull(
    store: &Store,
    opts: &kiln_registry::RegistryOptions,
    name: &str,
    span: Span,
    platform: &Platform,
) -> Result<kiln_oci::StoredImage, BuildError> {
    let reference = kiln_oci::Reference::parse_normalized(name).map_err(|e| {
        BuildError::refused(span, format!("invalid base image name {name:?}"), None, e)
    })?;
    kiln_registry::pull(store, &reference, platform, opts)
        .map(|p| p.image)
        .map_err(|e| BuildError::Registry {
            op: RegistryOp::Pull {
                name: name.to_string(),
                span,
            },
            source: Box::new(e),
        })
}

/// Config and layers of a stored image.
pub fn load(store: &Store, manifest: &Digest) -> Result<BaseImage, BuildError> {
    let img = store
        .load_image(manifest)
        .map_err(|e| store_err(store, e))?;
    let config: ImageConfig = store
        .read_blob_json(&img.config_digest, 8 << 20)
        .map_err(|e| store_err(store, e))?;
    let layers = img.layers().map_err(|e| store_err(store, e))?;
    Ok(BaseImage {
        config,
        layers,
        manifest: None,
    })
}

/// Start a stage from an earlier stage's result (config and layers; a fresh root).
pub fn from_stage(prev: &StageResult) -> BaseImage {
    BaseImage {
        config: prev.config.clone(),
        layers: prev.layers.clone(),
        manifest: None,
    }
}
