//! OCI building blocks for kiln: sha256 digests, Docker-style image
//! references, OCI image types, the embedded content-addressed image store,
//! and reading/writing OCI image layouts, oci-archives and docker-archives.
//!
//! Every input (archives, manifests, configs, names) is treated as hostile:
//! digests are validated before they become paths, JSON is size-capped,
//! every blob is verified against its digest, and archives are indexed into
//! the store's temp directory, never extracted to host paths.

pub mod archive;
pub mod compression;
pub mod digest;
mod error_kind;
pub mod holes;
pub mod image;
mod json;
pub mod layout;
pub mod media;
pub mod platform;
pub mod reference;
pub mod sparse;
pub mod store;
pub mod tar;
pub mod time;

pub use compression::{Compression, CompressionError};
pub use digest::{Digest, DigestError, DigestReader, DigestWriter};
pub use error_kind::ErrorKind;
pub use holes::HoleReader;
pub use image::{Image, ImageError, LayerRef};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
pub use sparse::SparseFile;
pub use store::{
    BlobWriter, CachedLayer, Removed, StepCache, StepRecord, Store, StoreError, StoredImage,
};
