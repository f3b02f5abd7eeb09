//! Errors of registry operations. Every variant names the URL, digest or file involved
//! and most carry a hint saying what to do. Credentials never appear here: URLs are
//! printed without user info and registry messages are cut short.

use kiln_oci::{Digest, ErrorKind, StoreError};
use std::path::PathBuf;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a status kiln cannot continue from.
    #[error("{status} {reason} from {method} {url}{detail}; {hint}")]
    Status {
        /// Request method.
        method: &'static str,
        /// Request URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Canonical reason phrase.
        reason: &'static str,
        /// The registry's error codes and messages (`: CODE: message`), shortened.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The registry cannot be reached in a way retrying does not fix (TLS handshake
    /// failed: untrusted certificate, wrong name, not TLS; unknown host name).
    #[error("cannot reach {url}: {message}; {hint}")]
    Unreachable {
        /// Request URL.
        url: String,
        /// The TLS or name resolution error.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The registry could not be reached (connection refused, reset, DNS).
    #[error("cannot reach {url}: {message}; {hint}")]
    Connect {
        /// Request URL.
        url: String,
        /// The transport error.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The registry cannot be reached in a way retrying does not fix, for the reason
    /// `source` gives (the TLS handshake failed: untrusted certificate, wrong name, not
    /// TLS; an unknown host name).
    #[error("cannot reach {url}: {source}; {hint}")]
    Handshake {
        /// Request URL.
        url: String,
        /// ureq's error.
        #[source]
        source: Box<ureq::Error>,
        /// What to do.
        hint: String,
    },
    /// The connection failed or broke (refused, reset, timed out, a body cut short):
    /// retrying may help.
    #[error("cannot reach {url}: {source}; {hint}")]
    Transport {
        /// Request URL.
        url: String,
        /// The transport error (ureq's, or the I/O error of reading the body).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// What to do.
        hint: String,
    },
    /// Content from the registry does not match the digest it was asked for.
    #[error("{what} from {url} has digest {actual}, expected {expected}; the registry or a proxy sent wrong content (nothing was stored)")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// Where from.
        url: String,
        /// Asked for.
        expected: Digest,
        /// Received.
        actual: Digest,
    },
    /// Content is larger than allowed or than its descriptor says.
    #[error("{what} from {url} is larger than {max} bytes; refused (a registry sending this is broken or hostile)")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// Where from.
        url: String,
        /// The limit.
        max: u64,
    },
    /// A token realm that would receive credentials in clear.
    #[error(
        "the registry {registry} names the token service {realm}, which is plain HTTP on \
         another host: kiln sends credentials only over TLS, or to a token service on the same \
         loopback host as a loopback registry. Serve the token service over https://, or \
         `kiln logout {host}` to use the registry anonymously"
    )]
    CredentialsInClear {
        /// The registry's base URL.
        registry: String,
        /// The realm it named.
        realm: String,
        /// The registry's host (for `kiln logout`).
        host: String,
    },
    /// A manifest or index that cannot be used.
    #[error("{what} from {url}: {reason}")]
    BadContent {
        /// What was fetched.
        what: String,
        /// Where from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No manifest in an index matches the wanted platform.
    #[error("{reference}: no image for platform {wanted} in its index (available: {available}); choose one with --platform")]
    NoPlatform {
        /// The image.
        reference: String,
        /// Wanted platform.
        wanted: String,
        /// Platforms the index lists.
        available: String,
    },
    /// The store refused content.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A local file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An auth or certificate file is malformed.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An auth file is not JSON.
    #[error("{}: not valid JSON ({source}); fix or remove the file", path.display())]
    AuthJson {
        /// The file.
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A docker-credential helper failed.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    Helper {
        /// Helper name.
        helper: String,
        /// Registry asked about.
        registry: String,
        /// What happened (the helper's stderr, shortened).
        reason: String,
    },
    /// A layer could not be recompressed for pushing.
    #[error("cannot recompress layer {digest}: {source}")]
    Recompress {
        /// The layer blob.
        digest: Digest,
        /// The read, decompression or compression error.
        #[source]
        source: std::io::Error,
    },
    /// A layer's stream could not be decompressed or a compressor not be set up.
    #[error("cannot recompress layer {digest}: {source}")]
    Compression {
        /// The layer blob.
        digest: Digest,
        #[source]
        source: kiln_oci::compression::CompressionError,
    },
    /// A layer compressed in a way no manifest media type names (xz, bzip2).
    #[error("cannot push layer {digest}: {compression} layers have no media type a manifest can name; push them with --compression gzip or zstd")]
    NoMediaType {
        /// The layer blob.
        digest: Digest,
        /// Its compression.
        compression: kiln_oci::Compression,
    },
    /// A stored layer's uncompressed content is not the diff-id its image names.
    #[error("cannot recompress layer {digest}: its content has digest {actual} uncompressed but the image says {expected}; the store is corrupt (run `kiln rmi` on the image and pull or build it again)")]
    LayerCorrupt {
        /// The layer blob.
        digest: Digest,
        /// The diff-id the image names.
        expected: Digest,
        /// The digest of the uncompressed content.
        actual: Digest,
    },
    /// Bad user input (reference, platform, options).
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    /// True for errors worth retrying: connection problems, 5xx, 429 and 408.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { .. } | RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => crate::http::is_transient_status(*status),
            _ => false,
        }
    }

    /// The class of the failure, which decides kiln's exit code: the registry's answer or
    /// the way to it is `Registry`; content a registry sent that is refused (wrong digest,
    /// too large, a manifest that cannot be used) is `Rejected`; local files and the store
    /// are `Io`; a bad reference or platform given by the user is `Usage`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Status { .. }
            | RegistryError::Unreachable { .. }
            | RegistryError::Connect { .. }
            | RegistryError::Transport { .. }
            | RegistryError::Handshake { .. }
            | RegistryError::Helper { .. } => ErrorKind::Registry,
            // A token service the credentials must not go to: what the registry asked
            // for is refused, as hostile content is.
            RegistryError::CredentialsInClear { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::BadContent { .. }
            | RegistryError::NoPlatform { .. }
            | RegistryError::BadFile { .. }
            | RegistryError::AuthJson { .. } => ErrorKind::Rejected,
            RegistryError::Store(e) => e.kind(),
            RegistryError::Compression { source, .. } => source.kind(),
            RegistryError::NoMediaType { .. } => ErrorKind::Rejected,
            RegistryError::Io { .. }
            | RegistryError::Recompress { .. }
            | RegistryError::LayerCorrupt { .. } => ErrorKind::Io,
            RegistryError::Invalid(_) => ErrorKind::Usage,
        }
    }
}

/// Result alias.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The canonical reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The `: CODE: message` details of a registry error body (`{"errors":[...]}`), at most
/// 300 characters, control characters dropped.
pub fn detail_from_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    let clean: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if clean.is_empty() {
        clean
    } else {
        format!(": {clean}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_who_is_at_fault() {
        let status = |status| RegistryError::Status {
            method: "GET",
            url: "https://r.example/v2/".into(),
            status,
            reason: reason(status),
            detail: String::new(),
            hint: String::new(),
        };
        assert_eq!(status(401).kind(), ErrorKind::Registry);
        assert_eq!(status(404).kind(), ErrorKind::Registry);
        assert_eq!(status(503).kind(), ErrorKind::Registry);
        let connect = RegistryError::Connect {
            url: "https://127.0.0.1:1/v2/".into(),
            message: "connection refused".into(),
            hint: String::new(),
        };
        assert_eq!(connect.kind(), ErrorKind::Registry);
        let transport = RegistryError::Transport {
            url: "https://127.0.0.1:1/v2/".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            hint: "try again".into(),
        };
        assert_eq!(transport.kind(), ErrorKind::Registry);
        assert!(transport.is_transient());
        assert!(std::error::Error::source(&transport).is_some());
        let d = Digest::of_bytes(b"a");
        let mismatch = RegistryError::DigestMismatch {
            what: "blob".into(),
            url: String::new(),
            expected: d,
            actual: Digest::of_bytes(b"b"),
        };
        assert_eq!(mismatch.kind(), ErrorKind::Rejected);
        let io = RegistryError::Io {
            action: "write a blob into",
            path: "/store/tmp".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(
            RegistryError::Invalid("bad".into()).kind(),
            ErrorKind::Usage
        );
    }

    #[test]
    fn registry_error_bodies_are_summarised() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown\n","detail":{}}]}"#;
        assert_eq!(
            detail_from_body(body),
            ": MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(detail_from_body(b"<html>"), "");
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#,
            "a".repeat(5000)
        );
        assert!(detail_from_body(long.as_bytes()).len() < 320);
    }
}
