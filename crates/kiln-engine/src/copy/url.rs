//! ADD of `http://` and `https://` sources: download to a temporary file, verify
//! `--checksum`, keep the server's Last-Modified time.
//!
//! kiln downloads on the host, outside the step's network, so the download goes through
//! the default network's policy ([`NetworkPolicy`]): the host name is resolved once, every
//! address it resolves to is checked (loopback, the host's own addresses, link-local,
//! `--network-deny`), and the connection goes to those checked addresses (no second
//! lookup a DNS server could answer differently). Each redirect hop is resolved and
//! checked the same way. The body may be at most [`UrlPolicy::max_size`] bytes, counted
//! while it streams.
//!
//! The agent comes from the registry client's one constructor
//! ([`kiln_registry::http::agent_config`]): the system CA bundle plus the host's certs.d
//! CAs, kiln's timeouts, and the registry options' retry policy for connection failures
//! and 5xx/429/408 answers. The environment's proxy is used only when the policy is lifted
//! (`--network host --allow network.host`): with the policy on, the check is about the
//! server the bytes come from, so the connection goes to it directly.

use super::url_policy::agent;
pub use super::url_policy::{UrlPolicy, DEFAULT_MAX_DOWNLOAD};
use kiln_registry::RegistryOptions;
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
    /// The HTTP settings could not be made (a certs.d file that cannot be read).
    #[error("cannot download {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<kiln_registry::RegistryError>,
    },
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

/// Download `url` into a new file in `dir`, as `policy` allows; `http`: the registry
/// options whose TLS and retry settings apply (`None`: the defaults from the environment).
pub fn download(
    url: &str,
    checksum: Option<&str>,
    dir: &Path,
    policy: &UrlPolicy,
    http: Option<&RegistryOptions>,
) -> Result<Download, UrlError> {
    let expected = checksum.map(parse_checksum).transpose()?;
    let defaults;
    let http = match http {
        Some(h) => h,
        None => {
            defaults = RegistryOptions::from_env();
            &defaults
        }
    };
    let mut resp = fetch(url, policy, http)?;
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
        let n = reader.read(&mut buf).map_err(|e| UrlError::Fetch {
            url: url.to_string(),
            message: e.to_string(),
        })?;
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

/// The answer to `GET url` (2xx), through the policy's checks, retried as the registry
/// client retries: connection failures and 5xx/429/408, with its backoff.
fn fetch(
    url: &str,
    policy: &UrlPolicy,
    http: &RegistryOptions,
) -> Result<ureq::http::Response<ureq::Body>, UrlError> {
    let network = policy
        .network_deny
        .as_deref()
        .map(NetworkPolicy::for_host)
        .transpose()
        .map_err(|source| UrlError::Policy {
            url: url.to_string(),
            source,
        })?;
    let host = ureq::http::Uri::try_from(url)
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let refused = Arc::new(Mutex::new(None));
    let agent = agent(network, &refused, &host, http).map_err(|source| UrlError::Http {
        url: url.to_string(),
        source: Box::new(source),
    })?;
    let mut failures = 0;
    loop {
        let called = agent.get(url).call();
        let refusal = refused.lock().unwrap_or_else(|e| e.into_inner()).take();
        let error = match (called, refusal) {
            (_, Some(r)) => {
                return Err(UrlError::Refused {
                    url: url.to_string(),
                    hop: r.url,
                    addr: r.addr,
                    rule: r.rule,
                })
            }
            (Ok(resp), None) if (200..300).contains(&resp.status().as_u16()) => return Ok(resp),
            (Ok(resp), None) => {
                let status = resp.status().as_u16();
                let error = UrlError::Status {
                    url: url.to_string(),
                    status,
                };
                if !kiln_registry::http::is_transient_status(status) {
                    return Err(error);
                }
                error
            }
            (Err(e), None) => {
                let transient = kiln_registry::http::is_transient_error(&e);
                let error = UrlError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                };
                if !transient {
                    return Err(error);
                }
                error
            }
        };
        failures += 1;
        if failures >= http.retry.attempts {
            return Err(error);
        }
        std::thread::sleep(http.retry.delay(failures, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_loopback_before_connecting_unless_lifted() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Nothing listens on port 1: only a refusal by the policy names a rule.
        let url = "http://localhost:1/f";
        match download(url, None, dir.path(), &UrlPolicy::default(), None) {
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
        let once = RegistryOptions {
            retry: kiln_registry::RetryPolicy {
                attempts: 1,
                ..Default::default()
            },
            ..RegistryOptions::from_env()
        };
        match download(url, None, dir.path(), &lifted, Some(&once)) {
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
