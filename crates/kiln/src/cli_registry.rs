//! Arguments of the registry commands (pull, push, login, logout) and the registry flags
//! `kiln build` shares with them. Names follow podman/skopeo.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How to reach registries.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Verify TLS certificates (false: no checks and plain HTTP allowed, for every registry).
    #[arg(long = "tls-verify", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// A registry (HOST[:PORT]) to reach without TLS checks or over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// certs.d directory with HOST[:PORT]/ca.crt files (default /etc/containers/certs.d, $KILN_CERTS_DIR).
    #[arg(long = "cert-dir", value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Auth file to read credentials from (default: $REGISTRY_AUTH_FILE, containers' auth.json, ~/.docker/config.json).
    #[arg(long = "authfile", value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Upload blobs larger than this in chunks of this many bytes (default 32 MiB).
    #[arg(
        long = "chunk-size",
        value_name = "BYTES",
        hide = true,
        env = "KILN_REGISTRY_CHUNK_SIZE"
    )]
    pub chunk_size: Option<u64>,
}

impl RegistryArgs {
    /// The options the registry client takes; transfer events go to `progress`.
    pub fn options(
        &self,
        progress: Option<std::sync::Arc<dyn kiln_registry::TransferProgress>>,
    ) -> kiln_registry::RegistryOptions {
        let mut o = kiln_registry::RegistryOptions::from_env();
        if let Some(v) = self.tls_verify {
            o.tls_verify = v;
        }
        o.insecure_registries
            .extend(self.insecure_registries.iter().cloned());
        if let Some(d) = &self.cert_dir {
            o.certs_dir = d.clone();
        }
        if self.authfile.is_some() {
            o.auth = kiln_registry::AuthFiles::from_env(self.authfile.clone());
        }
        if let Some(c) = self.chunk_size.filter(|c| *c > 0) {
            o.chunk_size = c;
        }
        o.progress = progress;
        o
    }
}

/// Layer compression for pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

impl CompressionArg {
    pub fn to_compression(self) -> kiln_registry::Compression {
        match self {
            CompressionArg::Gzip => kiln_registry::Compression::Gzip,
            CompressionArg::Zstd => kiln_registry::Compression::Zstd,
        }
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Platform to pull from a multi-platform image (default: linux/<host arch>).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print only the image ID.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The image: REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST].
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Compress layers with this (layers in another compression are recompressed); default:
    /// keep compressed layers, gzip uncompressed ones.
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Write the pushed manifest digest to this file.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Print only the manifest digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The image in the store.
    pub name: String,
    /// Where to push (default: NAME).
    pub dest: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Store the credentials without checking them with the registry.
    #[arg(long = "no-verify", hide = true)]
    pub no_verify: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The registry: HOST[:PORT].
    pub server: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Auth file to remove the credentials from.
    #[arg(long = "authfile", value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// The registry: HOST[:PORT].
    pub server: String,
}
