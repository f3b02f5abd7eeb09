//! ADD of `http://` and `https://` sources: download to a temporary file, verify
//! `--checksum`, keep the server's Last-Modified time.
//!
//! kiln downloads on the host, outside the step's network, so the download goes through
//! the default network's policy ([`NetworkPolicy`]): the host name is resolved once, every
//! address it resolves to is checked (loopback, the host's own addresses, link-local,
//! `--network-deny`), and the connection goes to those checked addresses (no second
//! lookup a DNS server could answer differently). Each redirect hop is resolved and
//! checked the same way. No proxy from the environment is used: the check is about the
//! server the bytes come from. The body may be at most [`UrlPolicy::max_size`] bytes,
//! counted while it streams.

use super::url_policy::agent;
pub use super::url_policy::{UrlPolicy, DEFAULT_MAX_DOWNLOAD};
use kiln_sandbox::netpolicy::Rule;
use kiln_sandbox::NetworkPolicy;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A downloaded file.
#[derive(Debug)]
pub struct Download {
    /// The file name taken from the URL path (`__unnamed__` when there is none).
    pub name: String,
    /// Where the body is (inside the caller's temp dir).
    pub file: std::fs::File,
    pub size: u64,
    /// `sha256:<hex>` of the body.
    pub digest: String,
    /// Last-Modified as Unix seconds, when the server sent it.
    pub mtime: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("cannot download {url}: {message}")]
    Fetch { url: String, message: String },
    #[error(
        "cannot download {url}: {hop} resolves to {addr}, which kiln refuses ({rule}); ADD \
         downloads on the host, so it follows the build network's policy. Serve the file from \
         an allowed address, or use --network host --allow network.host to let the build \
         reach the host"
    )]
    Refused {
        url: String,
        /// The URL being fetched when the policy refused (a redirect's target, or `url`).
        hop: String,
        addr: IpAddr,
        rule: Rule,
    },
    #[error(
        "cannot download {url}: it is larger than the {limit}-byte limit; raise \
         --max-download-size if it is expected"
    )]
    TooLarge { url: String, limit: u64 },
    #[error(
        "cannot download {url}: listing the host's addresses for the network policy: {source}"
    )]
    Policy {
        url: String,
        #[source]
        source: kiln_sandbox::NetPolicyError,
    },
    #[error("cannot download {url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("invalid --checksum {value:?}: expected sha256:<64 hex digits>")]
    BadChecksum { value: String },
    #[error("cannot write the download of {url} to {path}: {source}")]
    Io {
        url: String,
        path: String,
        source: std::io::Error,
    },
}

/// Is this ADD source a URL kiln downloads?
pub fn is_url(src: &str) -> bool {
    let lower = src.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The file name BuildKit gives a URL source.
pub fn file_name(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Check a `--checksum` value and return its hex part.
pub fn parse_checksum(value: &str) -> Result<String, UrlError> {
    match value.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(UrlError::BadChecksum {
            value: value.to_string(),
        }),
    }
}

/// Download `url` into a new file in `dir`, as `policy` allows.
pub fn download(
    url: &str,
    checksum: Option<&str>,
    dir: &Path,
    policy: &UrlPolicy,
) -> Result<Download, UrlError> {
    let expected = checksum.map(parse_checksum).transpose()?;
    let fetch_err = |message: String| UrlError::Fetch {
        url: url.to_string(),
        message,
    };
    let network = policy
        .network_deny
        .as_deref()
        .map(NetworkPolicy::for_host)
        .transpose()
        .map_err(|source| UrlError::Policy {
            url: url.to_string(),
            source,
        })?;
    let refused = Arc::new(Mutex::new(None));
    let called = agent(network, &refused).get(url).call();
    let mut resp =
        called.map_err(
            |e| match refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some(r) => UrlError::Refused {
                    url: url.to_string(),
                    hop: r.url,
                    addr: r.addr,
                    rule: r.rule,
                },
                None => fetch_err(e.to_string()),
            },
        )?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(UrlError::Status {
            url: url.to_string(),
            status,
        });
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let io_err = |source: std::io::Error| UrlError::Io {
        url: url.to_string(),
        path: dir.display().to_string(),
        source,
    };
    let mut file = tempfile::tempfile_in(dir).map_err(io_err)?;
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| fetch_err(e.to_string()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > policy.max_size {
            return Err(UrlError::TooLarge {
                url: url.to_string(),
                limit: policy.max_size,
            });
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err)?;
    }
    let actual = hex::encode(hasher.finalize());
    if let Some(exp) = expected {
        if exp != actual {
            return Err(UrlError::Checksum {
                url: url.to_string(),
                expected: format!("sha256:{exp}"),
                actual: format!("sha256:{actual}"),
            });
        }
    }
    use std::io::Seek;
    file.rewind().map_err(io_err)?;
    Ok(Download {
        name: file_name(url),
        file,
        size,
        digest: format!("sha256:{actual}"),
        mtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_loopback_before_connecting_unless_lifted() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Nothing listens on port 1: only a refusal by the policy names a rule.
        let url = "http://localhost:1/f";
        match download(url, None, dir.path(), &UrlPolicy::default()) {
            Err(UrlError::Refused { addr, rule, .. }) => {
                assert!(addr.is_loopback(), "{addr}");
                assert!(rule.to_string().contains("loopback"), "{rule}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let lifted = UrlPolicy {
            network_deny: None,
            ..UrlPolicy::default()
        };
        match download(url, None, dir.path(), &lifted) {
            Err(UrlError::Fetch { .. }) => {}
            other => panic!("expected a connection error, got {other:?}"),
        }
    }

    #[test]
    fn names_and_checksums() {
        assert_eq!(file_name("https://example.com/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(file_name("https://example.com/"), "__unnamed__");
        assert_eq!(file_name("https://example.com"), "__unnamed__");
        assert_eq!(file_name("http://h/dir/"), "dir");
        assert!(is_url("HTTPS://x/y") && !is_url("git@x:y") && !is_url("./http"));
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }
}
