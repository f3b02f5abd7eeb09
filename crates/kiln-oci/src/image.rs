//! OCI image types (re-exported from `oci-spec`) and helpers around them.

pub use oci_spec::image::{
    Arch, Config, ConfigBuilder, Descriptor, DescriptorBuilder, Digest as OciDigest, History,
    HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder,
    ImageManifest, ImageManifestBuilder, MediaType, Os, Platform, PlatformBuilder, RootFs,
    RootFsBuilder,
};
pub use oci_spec::OciSpecError;

use crate::digest::{Digest, DigestError};
use crate::error_kind::ErrorKind;
use crate::media;

/// Largest manifest or index accepted (same limit as containers/image and registries).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest image configuration accepted.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
/// Largest `index.json`, `manifest.json` or `oci-layout` accepted from a layout or archive.
pub const MAX_METADATA_BYTES: u64 = 4 << 20;

/// Annotation naming an image in an OCI layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with the full image name, also written by Docker.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Errors about image metadata contents.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A `rootfs.diff_ids` entry is not a sha256 digest.
    #[error("image config {config}: rootfs.diff_ids[{index}] is not a valid digest: {source}")]
    DiffId {
        /// The config digest, or `(new)` for an unsaved config.
        config: String,
        /// Position in `diff_ids`.
        index: usize,
        /// The parse error.
        source: DigestError,
    },
    /// Manifest layers and config `diff_ids` disagree in number.
    #[error("image {manifest}: the manifest lists {layers} layers but the config has {diff_ids} rootfs.diff_ids; the image is corrupt")]
    LayerCount {
        /// Manifest digest.
        manifest: Digest,
        /// Number of manifest layers.
        layers: usize,
        /// Number of diff-ids.
        diff_ids: usize,
    },
    /// A descriptor's digest is not a sha256 digest.
    #[error("descriptor of {what} has unsupported digest {value:?}: {source}")]
    DescriptorDigest {
        /// What the descriptor points at.
        what: String,
        /// The digest as given.
        value: String,
        /// The parse error.
        source: DigestError,
    },
    /// Building an OCI structure failed.
    #[error("cannot build OCI {what}: {source}")]
    Build {
        /// What was built.
        what: &'static str,
        /// The builder error.
        source: OciSpecError,
    },
}

impl ImageError {
    /// The class of this failure, for the exit code: inconsistent or malformed metadata is
    /// [`ErrorKind::Rejected`] (the image is corrupt or hostile); an OCI structure kiln
    /// could not build is a bug, [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::DiffId { .. }
            | ImageError::LayerCount { .. }
            | ImageError::DescriptorDigest { .. } => ErrorKind::Rejected,
            ImageError::Build { .. } => ErrorKind::Internal,
        }
    }
}

/// A layer of an image: the blob (possibly compressed) and its uncompressed diff-id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRef {
    /// Digest of the layer blob in the store.
    pub digest: Digest,
    /// Size of the layer blob in bytes.
    pub size: u64,
    /// Media type of the blob, e.g. [`media::OCI_LAYER_TAR`].
    pub media_type: String,
    /// Digest of the uncompressed tar (equals `digest` for uncompressed layers).
    pub diff_id: Digest,
}

impl LayerRef {
    /// An uncompressed OCI layer: digest == diff-id.
    pub fn uncompressed(digest: Digest, size: u64) -> LayerRef {
        LayerRef {
            digest,
            size,
            media_type: media::OCI_LAYER_TAR.to_owned(),
            diff_id: digest,
        }
    }
}

/// A stored image: manifest and config with their digests.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Digest of the manifest blob.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: ImageManifest,
    /// Digest of the config blob: the image ID shown to users.
    pub config_digest: Digest,
    /// The configuration.
    pub config: ImageConfiguration,
}

impl Image {
    /// The config's `rootfs.diff_ids`, parsed.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        diff_ids_of(&self.config, &self.config_digest.to_string())
    }

    /// Layers in order, pairing each manifest layer with its diff-id.
    pub fn layers(&self) -> Result<Vec<LayerRef>, ImageError> {
        let diff_ids = self.diff_ids()?;
        let layers = self.manifest.layers();
        if layers.len() != diff_ids.len() {
            return Err(ImageError::LayerCount {
                manifest: self.manifest_digest,
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        layers
            .iter()
            .zip(diff_ids)
            .enumerate()
            .map(|(i, (layer, diff_id))| {
                Ok(LayerRef {
                    digest: descriptor_digest(layer, &format!("layer {i}"))?,
                    size: layer.size(),
                    media_type: layer.media_type().to_string(),
                    diff_id,
                })
            })
            .collect()
    }
}

/// The `rootfs.diff_ids` of a config, parsed as digests.
pub fn diff_ids(config: &ImageConfiguration) -> Result<Vec<Digest>, ImageError> {
    diff_ids_of(config, "(new)")
}

pub(crate) fn diff_ids_of(
    config: &ImageConfiguration,
    what: &str,
) -> Result<Vec<Digest>, ImageError> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .enumerate()
        .map(|(index, s)| {
            Digest::parse(s).map_err(|source| ImageError::DiffId {
                config: what.to_owned(),
                index,
                source,
            })
        })
        .collect()
}

/// Replaces the config's `rootfs` with type `layers` and the given diff-ids.
pub fn set_diff_ids(config: &mut ImageConfiguration, diff_ids: &[Digest]) {
    let rootfs = config.rootfs_mut();
    rootfs.set_typ("layers".to_owned());
    rootfs.set_diff_ids(diff_ids.iter().map(Digest::to_string).collect());
}

/// The digest of a descriptor, which must be sha256.
pub fn descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest, ImageError> {
    Digest::try_from(d.digest()).map_err(|source| ImageError::DescriptorDigest {
        what: what.to_owned(),
        value: d.digest().to_string(),
        source,
    })
}

/// A descriptor with just media type, digest and size.
pub fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, digest)
}

/// An OCI image manifest (schema 2) for a config and layers.
pub fn oci_manifest(
    config_digest: Digest,
    config_size: u64,
    layers: &[LayerRef],
) -> Result<ImageManifest, ImageError> {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(media::OCI_CONFIG, config_digest, config_size))
        .layers(
            layers
                .iter()
                .map(|l| descriptor(&l.media_type, l.digest, l.size))
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(|source| ImageError::Build {
            what: "image manifest",
            source,
        })
}

/// The media type recorded in a manifest, defaulting to the OCI manifest type.
pub fn manifest_media_type(m: &ImageManifest) -> String {
    m.media_type()
        .as_ref()
        .map_or_else(|| media::OCI_MANIFEST.to_owned(), ToString::to_string)
}

/// The GOARCH name of the architecture kiln runs on.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_and_layers_pair_up() {
        let l1 = LayerRef::uncompressed(Digest::of_bytes(b"1"), 1);
        let l2 = LayerRef {
            digest: Digest::of_bytes(b"2gz"),
            size: 3,
            media_type: media::OCI_LAYER_TAR_GZIP.to_owned(),
            diff_id: Digest::of_bytes(b"2"),
        };
        let mut config: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .expect("config");
        set_diff_ids(&mut config, &[l1.diff_id, l2.diff_id]);
        let cfg = Digest::of_bytes(b"cfg");
        let manifest = oci_manifest(cfg, 3, &[l1.clone(), l2.clone()]).expect("manifest");
        assert_eq!(manifest_media_type(&manifest), media::OCI_MANIFEST);
        let image = Image {
            manifest_digest: Digest::of_bytes(b"m"),
            manifest,
            config_digest: cfg,
            config: config.clone(),
        };
        assert_eq!(image.layers().expect("layers"), vec![l1, l2]);
        let mut broken = image.clone();
        set_diff_ids(&mut broken.config, &[]);
        assert!(matches!(
            broken.layers(),
            Err(ImageError::LayerCount { .. })
        ));
        config.rootfs_mut().set_diff_ids(vec!["md5:x".into()]);
        let err = diff_ids(&config).expect_err("bad diff id");
        assert!(err.to_string().contains("rootfs.diff_ids[0]"), "{err}");
    }
}
