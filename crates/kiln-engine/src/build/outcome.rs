//! What a build gives back: the built image, or the error with the Dockerfile it was about.

use super::error::BuildError;
use kiln_oci::Digest;

/// The built image.
#[derive(Debug, Clone)]
pub struct Built {
    /// Image ID (the config digest), as `docker build -q` prints it.
    pub id: Digest,
    pub manifest: Digest,
    /// Size of the manifest blob in bytes.
    pub manifest_size: u64,
    pub names: Vec<String>,
    /// Build args no ARG used.
    pub unused_build_args: Vec<String>,
    /// Registry outputs: where the image went and its manifest digest there.
    pub pushed: Vec<kiln_registry::Pushed>,
    /// Context files read and hashed for cache keys (the rest came from the stat cache).
    pub files_hashed: u64,
    /// `--cache-to` exports: where each cache went and its manifest digest there.
    pub cache_exported: Vec<kiln_registry::Pushed>,
    /// Steps whose records came from a `--cache-from` cache.
    pub cache_imported: usize,
}

/// A failed build, with the Dockerfile it was about (for showing the failing line).
#[derive(Debug)]
pub struct Failed {
    pub error: BuildError,
    /// The Dockerfile's name and text, when it was read.
    pub dockerfile: Option<(String, String)>,
}
