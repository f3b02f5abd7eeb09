//! TLS for one registry: the system's CA bundle plus the registry's own CAs from
//! `CERTS_DIR/HOST[:PORT]/*.crt`, and a client certificate from `NAME.cert` + `NAME.key`
//! in the same directory (containers' certs.d convention; the base directory is
//! `/etc/containers/certs.d` unless `KILN_CERTS_DIR` or `--cert-dir` says otherwise).

use crate::error::{RegistryError, Result};
use std::path::{Path, PathBuf};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// The default certs.d base directory.
pub const DEFAULT_CERTS_DIR: &str = "/etc/containers/certs.d";

/// System CA bundles, first existing wins (Debian, Fedora, Alpine/SUSE).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
];

/// The TLS configuration for `host`: verified against system roots and the host's certs.d
/// CAs, or unverified when `verify` is false.
pub fn config_for(host: &str, certs_dir: &Path, verify: bool) -> Result<TlsConfig> {
    let host_dir = certs_dir.join(host);
    let client = client_cert(&host_dir)?;
    if !verify {
        return Ok(TlsConfig::builder()
            .disable_verification(true)
            .client_cert(client)
            .build());
    }
    let mut certs = Vec::new();
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    if let Some(bundle) = &bundle {
        certs.extend(read_pem(bundle)?);
    }
    match std::fs::read_dir(&host_dir) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "crt"))
                .collect();
            files.sort();
            for f in files {
                certs.extend(read_pem(&f)?);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(RegistryError::Io {
                action: "list",
                path: host_dir,
                source,
            })
        }
    }
    let roots = if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .build())
}

/// The first `NAME.cert` (sorted by name) in `dir` with its `NAME.key`, if any.
fn client_cert(dir: &Path) -> Result<Option<ClientCert>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut certs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cert"))
        .collect();
    certs.sort();
    let Some(cert) = certs.into_iter().next() else {
        return Ok(None);
    };
    let key = cert.with_extension("key");
    if !key.is_file() {
        return Err(RegistryError::BadFile {
            path: cert,
            reason: format!("client certificate without its key {}", key.display()),
        });
    }
    let chain = read_pem(&cert)?;
    let bytes = std::fs::read(&key).map_err(|source| RegistryError::Io {
        action: "read",
        path: key.clone(),
        source,
    })?;
    // The key's content never goes into a message.
    let key_pem = PrivateKey::from_pem(&bytes).map_err(|_| RegistryError::BadFile {
        path: key.clone(),
        reason: "not a PEM private key".into(),
    })?;
    Ok(Some(ClientCert::new_with_certs(&chain, key_pem)))
}

/// The certificates in a PEM file (other PEM items are skipped).
fn read_pem(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::BadFile {
                    path: path.to_owned(),
                    reason: format!("not a PEM certificate file: {e}"),
                })
            }
        }
    }
    Ok(out)
}
