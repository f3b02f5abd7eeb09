//! Where ADD may download from: the default network's policy applied on the host, at name
//! resolution. ureq asks [`CheckingResolver`] for the addresses of the URL's host and of
//! every redirect's, and connects only to the addresses it returned, after the check.

use kiln_registry::http::{agent_config, ProxyUse};
use kiln_sandbox::netpolicy::Rule;
use kiln_sandbox::{Cidr, NetworkPolicy};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Largest download by default (`--max-download-size`): 4 GiB.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 4 << 30;

/// Where ADD may download from, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `--network-deny` ranges on top of the default network's fixed rules; `None`: no
    /// check at all (`--network host --allow network.host`: the user let the build reach
    /// the host).
    pub network_deny: Option<Vec<Cidr>>,
    /// Bytes.
    pub max_size: u64,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        UrlPolicy {
            network_deny: Some(Vec::new()),
            max_size: DEFAULT_MAX_DOWNLOAD,
        }
    }
}

/// A destination the policy refused.
#[derive(Debug, Clone)]
pub(super) struct Refused {
    pub url: String,
    pub addr: IpAddr,
    pub rule: Rule,
}

/// Resolves like ureq's default resolver, then refuses the whole name if any address it
/// resolved to is refused by the policy.
#[derive(Debug)]
struct CheckingResolver {
    policy: NetworkPolicy,
    refused: Arc<Mutex<Option<Refused>>>,
}

impl Resolver for CheckingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        for a in addrs.iter() {
            if let Some(rule) = self.policy.refusing(a.ip()) {
                let refused = Refused {
                    url: uri.to_string(),
                    addr: a.ip(),
                    rule: rule.clone(),
                };
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused);
                return Err(ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} resolves to {}, which the network policy refuses",
                        uri,
                        a.ip()
                    ),
                )));
            }
        }
        Ok(addrs)
    }
}

/// The agent for one download from `host`, with the registry client's HTTP settings
/// (`http`: TLS with certs.d, timeouts): `policy` checks every address a host name (the
/// URL's or a redirect's) resolves to, and the verdict lands in `refused`. Only without a
/// policy may the environment's proxy be used: a proxy would connect in the agent's place.
pub(super) fn agent(
    policy: Option<NetworkPolicy>,
    refused: &Arc<Mutex<Option<Refused>>>,
    host: &str,
    http: &kiln_registry::RegistryOptions,
) -> Result<ureq::Agent, kiln_registry::RegistryError> {
    let proxy = match policy {
        Some(_) => ProxyUse::Direct,
        None => ProxyUse::FromEnv,
    };
    let config = agent_config(host, http, true, proxy)?
        .timeout_global(Some(Duration::from_secs(600)))
        .max_redirects(10)
        .build();
    Ok(match policy {
        Some(policy) => ureq::Agent::with_parts(
            config,
            DefaultConnector::default(),
            CheckingResolver {
                policy,
                refused: refused.clone(),
            },
        ),
        None => config.into(),
    })
}
