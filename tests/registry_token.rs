//! The bearer-token flow against a real registry: docker-registry with `auth: token`
//! trusting a certificate of the test's own, and a token server in the test that checks
//! basic credentials, records the scopes asked for and signs JWTs (RS256, x5c) with
//! openssl. kiln logs in, pulls, and pushes with a cross-repository mount; tokens are
//! fetched once per scope.

mod support;

use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::registry::free_port;
use support::{assert_fails, run_ok, s, tool, TestEnv};

const USER: &str = "tokenuser";
const PASSWORD: &str = "t0ken-pa55";
const SERVICE: &str = "kiln-test-registry";
const ISSUER: &str = "kiln-test-issuer";
/// An identity (refresh) token the token server accepts through the OAuth2 grant.
const REFRESH: &str = "refresh-t0ken-for-kiln";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A signed JWT granting `scopes` (`repository:NAME:ACTIONS`, space-separated).
fn jwt(dir: &Path, scopes: &[String]) -> String {
    let pem = std::fs::read_to_string(dir.join("token.crt")).expect("cert");
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der_b64]});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut p = s.splitn(3, ':');
            let (t, name, actions) = (p.next()?, p.next()?, p.next()?);
            Some(serde_json::json!({"type": t, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": format!("{now}-{}", scopes.len()), "access": access,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut child = Command::new(tool("openssl", "openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(dir.join("token.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("sign");
    let out = child.wait_with_output().expect("openssl");
    assert!(out.status.success());
    format!("{input}.{}", b64(&out.stdout))
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct Seen {
    /// (authorized with the right basic credentials, scopes)
    requests: Vec<(bool, Vec<String>)>,
}

/// The token server: `GET /token?service=…&scope=…`.
fn token_server(dir: PathBuf, seen: Arc<Mutex<Seen>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut authorized = false;
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                    break;
                }
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
                );
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    authorized =
                        line.split_once(':').map(|x| x.1.trim()) == Some(expected.as_str());
                }
            }
            let target = first.split(' ').nth(1).unwrap_or("");
            let mut query = target.split_once('?').map(|x| x.1).unwrap_or("").to_owned();
            if first.starts_with("POST ") {
                // OAuth2 refresh_token grant: the form is the body.
                let mut body = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                query = String::from_utf8_lossy(&body).into_owned();
                let form: Vec<(&str, String)> = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k, percent_decode(v)))
                    .collect();
                let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
                authorized = get("grant_type").as_deref() == Some("refresh_token")
                    && get("refresh_token").as_deref() == Some(REFRESH);
            }
            let scopes: Vec<String> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("scope="))
                .flat_map(|v| {
                    percent_decode(v)
                        .split(' ')
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            seen.lock()
                .expect("seen")
                .requests
                .push((authorized, scopes.clone()));
            let response = if authorized {
                let body =
                    serde_json::json!({"token": jwt(&dir, &scopes), "expires_in": 300}).to_string();
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = conn.write_all(response.as_bytes());
        }
    });
    host
}

struct TokenRegistry {
    child: Child,
    host: String,
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path, realm: &str) -> TokenRegistry {
    run_ok(
        Command::new(tool("openssl", "openssl"))
            .current_dir(dir)
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=kiln token signer",
            ]),
    );
    let host = format!("127.0.0.1:{}", free_port());
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\nhttp:\n  addr: {host}\n  secret: s\nauth:\n  token:\n    realm: http://{realm}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {crt}\n",
        data = dir.join("data").display(),
        crt = dir.join("token.crt").display(),
    );
    std::fs::write(dir.join("config.yml"), yaml).expect("config");
    let log = std::fs::File::create(dir.join("registry.log")).expect("log");
    let child = Command::new(tool("docker-registry", "docker-registry"))
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("docker-registry");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    TokenRegistry { child, host }
}

fn kiln(env: &TestEnv, store: &str) -> Command {
    let mut c = Command::new(support::kiln_bin());
    c.arg("--root").arg(env.path().join(store));
    c.env_remove("KILN_ROOT")
        .env("REGISTRY_AUTH_FILE", env.path().join("auth.json"))
        .env("HOME", env.path())
        .env("KILN_CERTS_DIR", env.path().join("certs.d"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null());
    c
}

#[test]
fn bearer_tokens_are_fetched_per_scope_with_credentials() {
    let env = TestEnv::new();
    let dir = env.path().join("registry");
    std::fs::create_dir_all(&dir).expect("dir");
    let seen = Arc::new(Mutex::new(Seen::default()));
    // The token server signs with the certificate start_registry makes.
    let realm = token_server(dir.clone(), seen.clone());
    let reg = start_registry(&dir, &realm);
    let h = reg.host.clone();

    // skopeo seeds a base image (through the same token flow).
    run_ok(kiln(&env, "seed").args(["import", s(&support::busybox_tarball()), "busybox:seed"]));
    let archive = env.path().join("base.tar");
    run_ok(kiln(&env, "seed").args([
        "save",
        "--format",
        "oci-archive",
        "-o",
        s(&archive),
        "busybox:seed",
    ]));
    run_ok(
        Command::new(tool("skopeo", "skopeo"))
            .env("REGISTRY_AUTH_FILE", env.path().join("skopeo-auth.json"))
            .args([
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                &format!("{USER}:{PASSWORD}"),
            ])
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("docker://{h}/base/busybox:1")),
    );

    // Anonymous: the token server refuses, kiln says to log in.
    let out = kiln(&env, "a")
        .args(["pull", &format!("{h}/base/busybox:1")])
        .output()
        .expect("kiln");
    // A registry's refusal exits 5 (1 before exit codes were split by kind).
    assert_fails(&out, 5, &["401 Unauthorized", &format!("kiln login {h}")]);

    seen.lock().expect("seen").requests.clear();
    run_ok(kiln(&env, "a").args(["login", "-u", USER, "-p", PASSWORD, &h]));
    run_ok(kiln(&env, "a").args(["pull", &format!("{h}/base/busybox:1")]));
    {
        let s = seen.lock().expect("seen");
        assert!(
            s.requests.iter().all(|(ok, _)| *ok),
            "credentials not sent: {:?}",
            s.requests
        );
        let pulls = s
            .requests
            .iter()
            .filter(|(_, sc)| sc == &vec!["repository:base/busybox:pull".to_owned()])
            .count();
        // One token for the manifest, config and layer requests of the pull.
        assert_eq!(pulls, 1, "{:?}", s.requests);
    }

    // Push to another repository: the base layer is mounted with a two-scope token.
    let out = run_ok(kiln(&env, "a").args([
        "push",
        &format!("{h}/base/busybox:1"),
        &format!("{h}/team/app:1"),
    ]));
    assert!(out.contains("0 blobs uploaded, 2 mounted"), "{out}");
    {
        let s = seen.lock().expect("seen");
        assert!(
            s.requests.iter().any(|(_, sc)| sc
                .contains(&"repository:team/app:pull,push".to_owned())
                && sc.contains(&"repository:base/busybox:pull".to_owned())),
            "{:?}",
            s.requests
        );
    }

    // Docker's identity token (config.json `identitytoken`): traded with the OAuth2
    // refresh_token grant.
    let docker = env.path().join("docker");
    std::fs::create_dir_all(&docker).expect("mkdir");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{h}":{{"identitytoken":"{REFRESH}"}}}}}}"#),
    )
    .expect("config.json");
    seen.lock().expect("seen").requests.clear();
    run_ok(
        kiln(&env, "c")
            .env("DOCKER_CONFIG", &docker)
            .env("REGISTRY_AUTH_FILE", env.path().join("none.json"))
            .args(["pull", &format!("{h}/team/app:1")]),
    );
    let s = seen.lock().expect("seen");
    assert!(
        !s.requests.is_empty() && s.requests.iter().all(|(ok, _)| *ok),
        "{:?}",
        s.requests
    );
}

/// Reads one HTTP request's head; returns its first line and its Authorization value.
fn request_head(conn: &std::net::TcpStream) -> (String, Option<String>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    (first, authorization)
}

/// A registry stand-in on 127.0.0.1 (plain HTTP): a request without a bearer token gets a
/// 401 naming `realm`; one with a token gets 200. Returns its host:port.
fn realm_naming_registry(realm: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (_, auth) = request_head(&conn);
            let reply = if auth.is_some_and(|a| a.starts_with("Bearer ")) {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_owned()
            } else {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"{SERVICE}\"\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    host
}

/// A token service on 0.0.0.0 that records the Authorization header of every request.
fn recording_token_service() -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let l = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (_, auth) = request_head(&conn);
            recorded.lock().expect("seen").push(auth);
            let body = r#"{"token":"t","expires_in":300}"#;
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (port, seen)
}

/// The host's first non-loopback IPv4 address.
fn host_ipv4() -> String {
    let out = run_ok(Command::new("ip").args(["-o", "-4", "addr", "show", "scope", "global"]));
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .expect("the host has a global IPv4 address")
        .to_owned()
}

#[test]
fn credentials_go_to_a_plain_http_token_realm_only_on_the_registrys_loopback_host() {
    let env = TestEnv::new();
    let (port, seen) = recording_token_service();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    // Control: a loopback registry whose token service is on the same loopback host gets
    // the credentials (over plain HTTP, which never leaves the machine).
    let local = realm_naming_registry(format!("http://127.0.0.1:{port}/token"));
    run_ok(kiln(&env, "a").args(["login", "-u", USER, "-p", PASSWORD, &local]));
    assert_eq!(
        seen.lock().expect("seen").as_slice(),
        &[Some(basic.clone())],
        "control: credentials sent to the loopback realm"
    );

    // A loopback registry naming a plain-HTTP realm on another host: refused, nothing sent.
    seen.lock().expect("seen").clear();
    let realm = format!("http://{}:{port}/token", host_ipv4());
    let remote = realm_naming_registry(realm.clone());
    let out = kiln(&env, "a")
        .args(["login", "-u", USER, "-p", PASSWORD, &remote])
        .output()
        .expect("kiln");
    assert_fails(
        &out,
        1,
        &[
            &format!("http://{remote}"),
            &realm,
            "only over TLS",
            "https://",
        ],
    );
    assert!(
        seen.lock().expect("seen").is_empty(),
        "the realm got a request: {:?}",
        seen.lock().expect("seen")
    );
}
