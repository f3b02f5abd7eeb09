//! Why an audit could not be made; each names the image or layer and what to do.

use kiln_oci::LayerRef;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The image or a blob could not be read from the store.
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: Box<kiln_oci::StoreError>,
    },
    /// A layer could not be read: damaged, or not a tar stream.
    #[error("layer {digest}: {source}; the blob is damaged: run `kiln store verify`, or pull the image again")]
    Layer {
        digest: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AuditError {
    pub fn store(layer: &LayerRef, source: kiln_oci::StoreError) -> AuditError {
        AuditError::Store {
            what: format!("layer {}", layer.digest),
            source: Box::new(source),
        }
    }

    /// Image `name` could not be read.
    pub fn image(name: &str, source: impl Into<kiln_oci::StoreError>) -> AuditError {
        AuditError::Store {
            what: format!("image {name}"),
            source: Box::new(source.into()),
        }
    }

    pub fn layer(
        layer: &LayerRef,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> AuditError {
        AuditError::Layer {
            digest: layer.digest.to_string(),
            source: source.into(),
        }
    }

    /// The class of the failure, for the exit code.
    pub fn kind(&self) -> kiln_oci::ErrorKind {
        match self {
            AuditError::Store { source, .. } => source.kind(),
            AuditError::Layer { .. } => kiln_oci::ErrorKind::Rejected,
        }
    }
}
