//! kiln's one way to set up an HTTP agent, for the registry client and for ADD's
//! downloads alike: TLS verified against the system's CA bundle plus the host's certs.d
//! CAs (and a client certificate from there), the proxy from the environment
//! (`HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, never for a loopback host), timeouts that turn
//! a stalled transfer into an error, and kiln's user agent. Retries follow the same
//! [`RetryPolicy`](crate::RetryPolicy) (`RegistryOptions::retry`).

use crate::error::Result;
use crate::{tls, RegistryOptions};
use std::time::Duration;
use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

/// Whether an agent may go through the environment's proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyUse {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` as usual (never for a loopback host).
    FromEnv,
    /// Always connect directly (e.g. when the caller checks the addresses it connects to).
    Direct,
}

/// The settings of an agent that talks to `host`: TLS for that host (`verify`: check
/// certificates), the proxy as `proxy` says, kiln's timeouts and user agent. Callers add
/// what is theirs (a global timeout, redirects) and build.
pub fn agent_config(
    host: &str,
    opts: &RegistryOptions,
    verify: bool,
    proxy: ProxyUse,
) -> Result<ConfigBuilder<AgentScope>> {
    let tls = tls::config_for(host, &opts.certs_dir, verify)?;
    let proxy = match proxy {
        ProxyUse::FromEnv if !crate::client::is_loopback(host) => ureq::Proxy::try_from_env(),
        _ => None,
    };
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled transfer errors (and is retried or resumed) instead of hanging.
        .timeout_per_read(Some(Duration::from_secs(120)))
        .timeout_per_write(Some(Duration::from_secs(120)))
        .proxy(proxy))
}

/// True for an HTTP status worth retrying: 5xx, 429 and 408 (as registry requests).
pub fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// True for a transport error worth retrying: not a TLS failure (an untrusted
/// certificate, a wrong name, not TLS) nor an unknown host name, which retrying does not
/// fix.
pub fn is_transient_error(e: &ureq::Error) -> bool {
    !matches!(
        e,
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::HostNotFound
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_direct_agents_never_use_a_proxy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = RegistryOptions {
            certs_dir: dir.path().to_path_buf(),
            ..RegistryOptions::from_env()
        };
        let config = agent_config("127.0.0.1:5000", &opts, true, ProxyUse::FromEnv)
            .expect("config")
            .build();
        assert!(config.proxy().is_none());
        let config = agent_config("example.com", &opts, true, ProxyUse::Direct)
            .expect("config")
            .build();
        assert!(config.proxy().is_none());
        assert!(is_transient_status(503) && is_transient_status(429));
        assert!(!is_transient_status(404));
    }
}
