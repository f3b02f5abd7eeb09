//! One registry endpoint: scheme selection (HTTPS, HTTP only for loopback or insecure
//! registries), TLS trust, authentication (basic, or bearer tokens cached per scope),
//! and retries of transient failures.

use crate::auth::challenge::{self, Challenge};
use crate::auth::token;
use crate::auth::{Credentials, Secret};
use crate::error::{detail_from_body, reason, RegistryError, Result};
use crate::http::{agent_config, ProxyUse};
use crate::retry::RetryPolicy;
use crate::tls;
use crate::RegistryOptions;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::http::{self, Response};
use ureq::{Body, SendBody};

/// A request body that can be sent again on retry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

/// A request to the registry. No `Debug`: a token request carries credentials in `headers`.
#[derive(Clone)]
pub(crate) struct Req<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody<'a>,
    /// Token scope, e.g. `repository:team/app:pull,push` (empty: none).
    pub scope: &'a str,
}

impl<'a> Req<'a> {
    pub(crate) fn new(method: &'static str, url: String, scope: &'a str) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: ReqBody::Empty,
            scope,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: ReqBody<'a>) -> Self {
        self.body = body;
        self
    }
}

#[derive(Debug, Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by scope, with their expiry.
    tokens: HashMap<String, (Secret, Instant)>,
}

/// A connection to one registry.
pub struct Client {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// `https://HOST` or `http://HOST`.
    pub base: String,
    pub(crate) agent: ureq::Agent,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("base", &self.base)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1` (with or without a port).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// Connects to `host`: picks the scheme with a `GET /v2/` and learns how it
    /// authenticates. Credentials come from `opts.auth` unless given.
    pub fn connect(
        host: &str,
        opts: &RegistryOptions,
        creds: Option<Credentials>,
    ) -> Result<Client> {
        let creds = match creds {
            Some(c) => Some(c),
            None => opts.auth.lookup(host)?,
        };
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        resolve_host(api_host, host)?;
        let insecure = opts.is_insecure(host);
        let verify = !insecure;
        let agent: ureq::Agent = agent_config(host, opts, verify, ProxyUse::FromEnv)?
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .max_idle_connections_per_host(16)
            .build()
            .into();
        let mut client = Client {
            host: host.to_owned(),
            base: format!("https://{api_host}"),
            agent,
            creds,
            auth: Mutex::new(AuthState::default()),
            retry: opts.retry,
        };
        let http_allowed = insecure || is_loopback(host);
        if !http_allowed {
            client.ping()?;
            return Ok(client);
        }
        match client.ping_with(1) {
            Ok(()) => Ok(client),
            Err(
                https_err @ (RegistryError::Connect { .. }
                | RegistryError::Transport { .. }
                | RegistryError::Handshake { .. }
                | RegistryError::Unreachable { .. }),
            ) => {
                client.base = format!("http://{api_host}");
                // Plain HTTP is only a fallback: if it fails too, the TLS error is the
                // one that explains (e.g. a TLS registry answering 400 to plain HTTP).
                match client.ping() {
                    Ok(()) => Ok(client),
                    Err(_) => Err(https_err),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/`: 200, or 401 with a challenge, mean a registry is there.
    fn ping(&self) -> Result<()> {
        self.ping_with(self.retry.attempts)
    }

    fn ping_with(&self, attempts: u32) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let mut resp = self.exchange(&Req::new("GET", url.clone(), ""), false, attempts)?;
        let status = resp.status().as_u16();
        if status == 401 {
            self.learn_challenge(&resp);
            return Ok(());
        }
        if (200..300).contains(&status) {
            return Ok(());
        }
        Err(status_error("GET", &url, &mut resp, &self.host))
    }

    /// The URL of `/v2/REPO/PATH`.
    pub(crate) fn url(&self, repo: &str, path: &str) -> String {
        format!("{}/v2/{repo}/{path}", self.base)
    }

    /// Resolves a `Location` header (absolute or relative to the registry).
    pub(crate) fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    /// Sends with authentication and retries; returns any final response, 4xx included.
    pub(crate) fn send(&self, req: &Req) -> Result<Response<Body>> {
        self.exchange(req, true, self.retry.attempts)
    }

    /// Sends with authentication but without retrying transient failures (the caller
    /// knows how to recover, e.g. by resuming an upload).
    pub(crate) fn send_once(&self, req: &Req) -> Result<Response<Body>> {
        self.exchange(req, true, 1)
    }

    fn exchange(&self, req: &Req, authenticate: bool, attempts: u32) -> Result<Response<Body>> {
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let authorization = if authenticate && self.same_origin(&req.url) {
                self.authorization(req.scope)?
            } else {
                None
            };
            match self.once(req, authorization.as_ref()) {
                Err(e) => {
                    if e.is_transient() && attempt < attempts {
                        std::thread::sleep(self.retry.delay(attempt, None));
                        continue;
                    }
                    return Err(e);
                }
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 && authenticate && !reauthenticated {
                        reauthenticated = true;
                        if self.on_unauthorized(&resp, req.scope) {
                            drain(&mut resp);
                            continue;
                        }
                    }
                    if (status >= 500 || status == 429 || status == 408) && attempt < attempts {
                        let after = header(&resp, "retry-after");
                        drain(&mut resp);
                        std::thread::sleep(self.retry.delay(attempt, after.as_deref()));
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    /// One HTTP exchange.
    fn once(&self, req: &Req, authorization: Option<&Secret>) -> Result<Response<Body>> {
        let mut b = http::Request::builder().method(req.method).uri(&req.url);
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        if let Some(a) = authorization {
            b = b.header("authorization", a.expose());
        }
        let connect = |e: ureq::Error| RegistryError::Transport {
            url: req.url.clone(),
            source: Box::new(e),
            hint: connect_hint(&self.host),
        };
        // A POST, PUT or PATCH without content still says `Content-Length: 0` (no chunked
        // encoding: registries and proxies expect lengths).
        let body = match (req.body, req.method) {
            (ReqBody::Empty, "POST" | "PUT" | "PATCH") => ReqBody::Bytes(&[]),
            (b, _) => b,
        };
        let result = match body {
            ReqBody::Empty => {
                let r = b
                    .body(SendBody::none())
                    .map_err(|e| RegistryError::Invalid(format!("bad request {}: {e}", req.url)))?;
                self.agent.run(r)
            }
            ReqBody::Bytes(bytes) => {
                let r = b
                    .header("content-length", bytes.len())
                    .body(bytes)
                    .map_err(|e| RegistryError::Invalid(format!("bad request {}: {e}", req.url)))?;
                self.agent.run(r)
            }
            ReqBody::File { path, offset, len } => {
                let mut f = std::fs::File::open(path).map_err(|source| RegistryError::Io {
                    action: "open",
                    path: path.to_owned(),
                    source,
                })?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|source| RegistryError::Io {
                        action: "seek in",
                        path: path.to_owned(),
                        source,
                    })?;
                let reader = std::io::BufReader::with_capacity(256 << 10, f.take(len));
                let r = b
                    .header("content-length", len)
                    .body(SendBody::from_owned_reader(reader))
                    .map_err(|e| RegistryError::Invalid(format!("bad request {}: {e}", req.url)))?;
                self.agent.run(r)
            }
        };
        result.map_err(|e| match e {
            e if !crate::http::is_transient_error(&e) => RegistryError::Handshake {
                url: req.url.clone(),
                source: Box::new(e),
                hint: connect_hint(&self.host),
            },
            e => connect(e),
        })
    }

    /// True when `url` is on the registry itself (credentials go nowhere else).
    fn same_origin(&self, url: &str) -> bool {
        url.strip_prefix(&self.base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
    }

    fn learn_challenge(&self, resp: &Response<Body>) -> Option<Challenge> {
        let c = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(challenge::parse)
            .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))?;
        if let Ok(mut state) = self.auth.lock() {
            state.challenge = Some(c.clone());
        }
        Some(c)
    }

    /// After a 401: learn the challenge, forget the scope's token. True to retry.
    fn on_unauthorized(&self, resp: &Response<Body>, scope: &str) -> bool {
        match self.learn_challenge(resp) {
            Some(Challenge::Bearer { .. }) => {
                if let Ok(mut state) = self.auth.lock() {
                    state.tokens.remove(scope);
                }
                true
            }
            Some(Challenge::Basic) => self.creds.is_some(),
            None => false,
        }
    }

    /// The `Authorization` value for a scope: basic credentials, or a (cached) bearer token.
    fn authorization(&self, scope: &str) -> Result<Option<Secret>> {
        let challenge = {
            let state = self
                .auth
                .lock()
                .map_err(|_| RegistryError::Invalid("auth state poisoned".into()))?;
            match &state.challenge {
                None => return Ok(None),
                Some(Challenge::Basic) => {
                    return Ok(self.creds.as_ref().map(Credentials::basic_header))
                }
                Some(c @ Challenge::Bearer { .. }) => {
                    if let Some((t, expiry)) = state.tokens.get(scope) {
                        if Instant::now() < *expiry {
                            return Ok(Some(Secret::new(format!("Bearer {}", t.expose()))));
                        }
                    }
                    c.clone()
                }
            }
        };
        let Challenge::Bearer { realm, service, .. } = challenge else {
            return Ok(None);
        };
        let (t, lifetime) =
            token::fetch(self, &realm, service.as_deref(), scope, self.creds.as_ref())?;
        let header = Secret::new(format!("Bearer {}", t.expose()));
        if let Ok(mut state) = self.auth.lock() {
            // Renew a little early.
            let expiry = Instant::now() + lifetime.saturating_sub(Duration::from_secs(10));
            state.tokens.insert(scope.to_owned(), (t, expiry));
        }
        Ok(Some(header))
    }

    /// Sends without the registry's own authentication (token requests carry theirs).
    pub(crate) fn send_plain(&self, req: &Req) -> Result<Response<Body>> {
        self.exchange(req, false, self.retry.attempts)
    }

    /// True if this client has credentials.
    pub fn has_credentials(&self) -> bool {
        self.creds.is_some()
    }

    /// Checks that the credentials work: a `GET /v2/` authenticated (for `kiln login`).
    pub fn check_login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let mut resp = self.send(&Req::new("GET", url.clone(), ""))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(status_error("GET", &url, &mut resp, &self.host))
        }
    }
}

/// Fails fast (no retries) when the registry's name does not resolve.
fn resolve_host(api_host: &str, host: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let with_port = if api_host.starts_with('[') {
        if api_host.contains("]:") {
            api_host.to_owned()
        } else {
            format!("{api_host}:443")
        }
    } else if api_host.contains(':') {
        api_host.to_owned()
    } else {
        format!("{api_host}:443")
    };
    match with_port.to_socket_addrs().map(|a| a.count()) {
        Ok(0) => Err(unresolved(api_host, host, "no addresses".into())),
        Ok(_) => Ok(()),
        Err(e) => Err(unresolved(api_host, host, e.to_string())),
    }
}

fn unresolved(api_host: &str, host: &str, message: String) -> RegistryError {
    RegistryError::Unreachable {
        url: format!("https://{api_host}/v2/"),
        message: format!("cannot resolve the host name: {message}"),
        hint: format!("check the registry name {host:?} and the network (DNS)"),
    }
}

/// A response header as a string.
pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads and drops a small response body so the connection can be reused.
pub(crate) fn drain(resp: &mut Response<Body>) {
    let _ = resp.body_mut().with_config().limit(64 << 10).read_to_vec();
}

/// The error for an unexpected status, with the registry's message and a hint.
pub(crate) fn status_error(
    method: &'static str,
    url: &str,
    resp: &mut Response<Body>,
    host: &str,
) -> RegistryError {
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    RegistryError::Status {
        method,
        url: url.to_owned(),
        status,
        reason: reason(status),
        detail: detail_from_body(&body),
        hint: status_hint(status, host),
    }
}

fn status_hint(status: u16, host: &str) -> String {
    match status {
        401 => format!("run `kiln login {host}` (or check the credentials in your auth file)"),
        403 => "the account has no access to this repository; check the name and your permissions"
            .to_owned(),
        404 => "check the repository name, tag and digest".to_owned(),
        429 => "the registry limits requests; wait and try again".to_owned(),
        s if s >= 500 => "the registry failed; try again later".to_owned(),
        _ => "the registry refused the request".to_owned(),
    }
}

fn connect_hint(host: &str) -> String {
    format!(
        "check that the registry at {host} is running and reachable; for a self-signed certificate put its CA in {}/{host}/ca.crt (or $KILN_CERTS_DIR), and a client certificate as client.cert + client.key there if the registry asks for one; or use --tls-verify=false",
        tls::DEFAULT_CERTS_DIR
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_has_no_secrets() {
        let client = Client {
            host: "r:1".into(),
            base: "https://r:1".into(),
            agent: ureq::Agent::new_with_defaults(),
            creds: Some(Credentials {
                username: "u".into(),
                password: Secret::new("pw-do-not-print"),
            }),
            auth: Mutex::new(AuthState::default()),
            retry: RetryPolicy::default(),
        };
        if let Ok(mut s) = client.auth.lock() {
            s.tokens.insert(
                "scope".into(),
                (Secret::new("token-do-not-print"), Instant::now()),
            );
        }
        let shown = format!("{client:?}");
        assert!(!shown.contains("do-not-print"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[fe80::1]:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
