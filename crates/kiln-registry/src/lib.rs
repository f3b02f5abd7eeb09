//! kiln's OCI distribution client: pulls images into kiln's store and pushes stored
//! images to registries.
//!
//! - [`Client`]: one registry endpoint; HTTPS with system roots plus the registry's
//!   certs.d CAs, plain HTTP only for loopback or insecure registries; basic auth and the
//!   bearer-token flow (tokens cached per scope); retries with backoff on connection
//!   errors, 5xx, 408 and 429 (`Retry-After`).
//! - [`pull()`]: tags and digests, indexes with platform selection, every blob verified
//!   against its digest while it streams into the store, layers in parallel, blobs the
//!   store has are not fetched.
//! - [`push()`]: `HEAD` checks, cross-repository mounts, monolithic and resumable chunked
//!   uploads, layers compressed (or recompressed) as asked.
//! - [`auth`]: auth files, credential helpers, `kiln login` / `logout`.
//!
//! Registry responses are hostile input: sizes are capped, digests verified, nothing
//! unverified reaches the store. Credentials never appear in `Debug` output or errors.

pub mod auth;
pub mod cache;
pub mod client;
pub mod error;
pub mod http;
pub mod manifest;
pub mod progress;
mod pull;
mod push;
mod recompress;
pub mod retry;
pub mod tls;
mod upload;

pub use auth::files::AuthFiles;
pub use auth::{Credentials, Secret};
pub use client::Client;
pub use error::{RegistryError, Result};
pub use progress::{BlobEnd, Transfer, TransferEvent, TransferKind, TransferProgress};
pub use pull::{pull, resolve, Pulled};
pub use push::{push, PushOptions, Pushed};
pub use retry::RetryPolicy;
pub use upload::BlobOutcome;

use std::path::PathBuf;

/// Layer compression for pushing.
pub use kiln_oci::media::Compression;

/// The platform to pull from an index (one type for all of kiln, in kiln-oci).
pub use kiln_oci::Platform;

/// How kiln talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--tls-verify=false`: no certificate checks and plain HTTP allowed, everywhere.
    pub tls_verify: bool,
    /// Registries (`host[:port]`) treated as with `tls_verify` false.
    pub insecure_registries: Vec<String>,
    /// certs.d base directory (`/etc/containers/certs.d`, `$KILN_CERTS_DIR`).
    pub certs_dir: PathBuf,
    /// Where credentials come from.
    pub auth: AuthFiles,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Blobs transferred at once.
    pub jobs: usize,
    /// Blobs larger than this are uploaded in chunks of this size.
    pub chunk_size: u64,
    /// Where transfer progress goes (per blob); `None`: nowhere. The client never prints.
    pub progress: Option<std::sync::Arc<dyn progress::TransferProgress>>,
}

impl RegistryOptions {
    /// Defaults from the environment: `KILN_CERTS_DIR`, the auth files (see
    /// [`AuthFiles::from_env`]), `KILN_INSECURE_REGISTRIES` (comma-separated).
    pub fn from_env() -> RegistryOptions {
        let certs_dir = std::env::var_os("KILN_CERTS_DIR")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(tls::DEFAULT_CERTS_DIR), PathBuf::from);
        let insecure_registries = std::env::var("KILN_INSECURE_REGISTRIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        RegistryOptions {
            tls_verify: true,
            insecure_registries,
            certs_dir,
            auth: AuthFiles::from_env(None),
            retry: RetryPolicy::default(),
            jobs: 3,
            chunk_size: 32 << 20,
            progress: None,
        }
    }

    /// True if TLS is not verified (and HTTP allowed) for `host`.
    pub fn is_insecure(&self, host: &str) -> bool {
        !self.tls_verify || self.insecure_registries.iter().any(|h| h == host)
    }
}
