//! The errors of squashing, their classes, and the store-error helper.

use std::path::PathBuf;

use kiln_oci::{Digest, ErrorKind, Store, StoreError};

/// Errors of squashing.
#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error("{source}")]
    Lookup {
        #[source]
        source: Box<StoreError>,
    },
    #[error("cannot read image {image} from the store: {source}")]
    Image {
        image: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{image} has {layers} layer(s); --last {asked} asks for more (give --last {layers} or less, or see the layers with `kiln inspect {image}`)")]
    TooMany {
        image: String,
        asked: usize,
        layers: usize,
    },
    #[error("--last 0 squashes nothing; give --last N with N of at least 1")]
    Nothing,
    #[error("{image} has no layer or history step {given:?}; give a layer digest from `kiln inspect {image}` (or a prefix of 12+ hex digits of one), or a history index below {steps} (0 = the oldest entry; `kiln history {image}` lists them newest first)")]
    UnknownLayer {
        image: String,
        given: String,
        steps: usize,
    },
    #[error("{image}: history step {index} made no layer and none follows it; give an earlier step or a layer digest")]
    NoLayerAfter { image: String, index: usize },
    #[error("layer {digest}: {source}")]
    Decompress {
        digest: Digest,
        #[source]
        source: Box<kiln_oci::CompressionError>,
    },
    #[error("layer {digest}: {source}")]
    Extract {
        digest: Digest,
        #[source]
        source: Box<kiln_layer::ExtractError>,
    },
    #[error("cannot write the squashed layer: {source}")]
    Write {
        #[source]
        source: Box<kiln_layer::WriteError>,
    },
    #[error("a squashed layer has a path that is not UTF-8 ({path:?}); squashing above kept layers cannot carry it, squash the whole image instead (--squash-all, or kiln squash --from 0)")]
    NotUtf8 { path: String },
    #[error("store {root}: {what}: {source}")]
    Store {
        root: PathBuf,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "invalid image name {name:?}: {source} (name the image NAME[:TAG], e.g. app:squashed)"
    )]
    Name {
        name: String,
        #[source]
        source: Box<kiln_oci::ReferenceError>,
    },
}

impl SquashError {
    /// The class of the failure (decides the exit code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            SquashError::Lookup { source } => source.kind(),
            SquashError::TooMany { .. }
            | SquashError::Nothing
            | SquashError::UnknownLayer { .. }
            | SquashError::NoLayerAfter { .. }
            | SquashError::Name { .. } => ErrorKind::Usage,
            SquashError::NotUtf8 { .. } => ErrorKind::Rejected,
            SquashError::Decompress { source, .. } => source.kind(),
            SquashError::Extract { source, .. } => source.kind(),
            SquashError::Write { source } => source.kind(),
            SquashError::Image { .. } | SquashError::Store { .. } => ErrorKind::Io,
        }
    }
}

pub(super) fn store_err(
    store: &Store,
    what: &'static str,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> SquashError {
    SquashError::Store {
        root: store.root().to_owned(),
        what,
        source: e.into(),
    }
}
