//! The bearer-token flow of the distribution spec: after a `401` with
//! `WWW-Authenticate: Bearer realm=…,service=…`, `GET realm?service=…&scope=…` (with basic
//! credentials when kiln has some) returns `{"token":…,"expires_in":…}`.

use super::{Credentials, Secret, IDENTITY_TOKEN_USER};
use crate::client::{is_loopback, status_error, Client, Req, ReqBody};
use crate::error::{RegistryError, Result};
use std::time::Duration;

/// Largest token response accepted.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;
/// Lifetime assumed when the server gives none (the spec's default).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Fetches a token for `scope`; returns it with its lifetime.
pub(crate) fn fetch(
    client: &Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    creds: Option<&Credentials>,
) -> Result<(Secret, Duration)> {
    let realm_host = realm
        .strip_prefix("https://")
        .or_else(|| realm.strip_prefix("http://"))
        .and_then(|r| r.split(['/', '?']).next())
        .ok_or_else(|| RegistryError::BadContent {
            what: "the token realm".into(),
            url: client.base.clone(),
            reason: format!("{realm:?} is not an http(s) URL"),
        })?;
    if creds.is_some() && !may_send_credentials(realm, realm_host, &client.host) {
        return Err(RegistryError::CredentialsInClear {
            registry: client.base.clone(),
            realm: realm.to_owned(),
            host: client.host.clone(),
        });
    }
    let form;
    let mut resp = if let Some(c) = creds.filter(|c| c.username == IDENTITY_TOKEN_USER) {
        // An identity (refresh) token: the OAuth2 refresh_token grant, as docker does.
        let mut f = format!(
            "grant_type=refresh_token&client_id=kiln&refresh_token={}",
            encode(c.password.expose())
        );
        if let Some(s) = service {
            f.push_str(&format!("&service={}", encode(s)));
        }
        if !scope.is_empty() {
            f.push_str(&format!("&scope={}", encode(scope)));
        }
        form = f;
        let req = Req::new("POST", realm.to_owned(), scope)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(ReqBody::Bytes(form.as_bytes()));
        client.send_plain(&req)?
    } else {
        get_token(client, realm, service, scope, creds)?
    };
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let method = if creds.is_some_and(|c| c.username == IDENTITY_TOKEN_USER) {
            "POST"
        } else {
            "GET"
        };
        return Err(status_error(method, realm, &mut resp, &client.host));
    }
    parse_reply(resp, realm)
}

/// Whether credentials may go to `realm` (its host `realm_host`) for the registry at
/// `registry_host`: over TLS, or over plain HTTP when both are on the loopback host (a
/// local test or mirror registry with its token service beside it). A plain-HTTP realm
/// elsewhere would put the user's password on the network in clear, at the request of
/// whatever answered on the registry's address.
fn may_send_credentials(realm: &str, realm_host: &str, registry_host: &str) -> bool {
    realm.starts_with("https://") || (is_loopback(realm_host) && is_loopback(registry_host))
}

/// `GET realm?service=…&scope=…`, with basic credentials when there are some.
fn get_token(
    client: &Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    creds: Option<&Credentials>,
) -> Result<ureq::http::Response<ureq::Body>> {
    let mut query = Vec::new();
    if let Some(s) = service {
        query.push(format!("service={}", encode(s)));
    }
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        query.push(format!("scope={}", encode(s)));
    }
    let sep = if realm.contains('?') { '&' } else { '?' };
    let url = if query.is_empty() {
        realm.to_owned()
    } else {
        format!("{realm}{sep}{}", query.join("&"))
    };
    let mut req = Req::new("GET", url.clone(), scope);
    if let Some(c) = creds {
        req = req.header("authorization", c.basic_header().expose().to_owned());
    }
    client.send_plain(&req)
}

/// `{"token":…}` or `{"access_token":…}`, with `expires_in`.
fn parse_reply(
    mut resp: ureq::http::Response<ureq::Body>,
    realm: &str,
) -> Result<(Secret, Duration)> {
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_TOKEN_RESPONSE)
        .read_to_vec()
        .map_err(|e| RegistryError::Transport {
            url: realm.to_owned(),
            source: Box::new(e),
            hint: "the token service failed; try again".into(),
        })?;
    let reply: Reply = serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadContent {
        what: "the token response".into(),
        url: realm.to_owned(),
        reason: format!("not the expected JSON: {e}"),
    })?;
    let token = if reply.token.is_empty() {
        reply.access_token
    } else {
        reply.token
    };
    if token.is_empty() {
        return Err(RegistryError::BadContent {
            what: "the token response".into(),
            url: realm.to_owned(),
            reason: "it has no token".into(),
        });
    }
    Ok((Secret::new(token), lifetime(reply.expires_in)))
}

/// How long a token is used: what the registry said (its default when silent), at least
/// 15 s and at most a day, so a hostile `expires_in` cannot overflow a deadline.
fn lifetime(expires_in: Option<u64>) -> Duration {
    expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
        .clamp(Duration::from_secs(15), MAX_LIFETIME)
}

/// The longest a token is kept.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn token_lifetimes_are_clamped_so_a_hostile_expires_in_cannot_overflow() {
        assert_eq!(super::lifetime(Some(u64::MAX)), super::MAX_LIFETIME);
        assert!(std::time::Instant::now()
            .checked_add(super::lifetime(Some(u64::MAX)))
            .is_some());
        assert_eq!(super::lifetime(Some(0)), Duration::from_secs(15));
        assert_eq!(super::lifetime(Some(300)), Duration::from_secs(300));
        assert_eq!(super::lifetime(None), super::DEFAULT_LIFETIME);
    }

    #[test]
    fn credentials_go_over_tls_or_stay_on_the_loopback_host() {
        use super::may_send_credentials as may;
        assert!(may(
            "https://auth.example/token",
            "auth.example",
            "127.0.0.1:5000"
        ));
        assert!(may(
            "https://auth.example/token",
            "auth.example",
            "reg.example"
        ));
        assert!(may(
            "http://127.0.0.1:5001/token",
            "127.0.0.1:5001",
            "127.0.0.1:5000"
        ));
        assert!(may("http://localhost/token", "localhost", "[::1]:5000"));
        assert!(!may(
            "http://192.0.2.7/token",
            "192.0.2.7",
            "127.0.0.1:5000"
        ));
        assert!(!may("http://127.0.0.1/token", "127.0.0.1", "reg.example"));
        assert!(!may(
            "http://auth.example/token",
            "auth.example",
            "reg.example:5000"
        ));
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            super::encode("repository:a/b:pull,push"),
            "repository:a/b:pull%2Cpush"
        );
        assert_eq!(super::encode("a b&c"), "a%20b%26c");
    }
}
