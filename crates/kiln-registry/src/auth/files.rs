//! Auth files: containers' `auth.json` (`REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`) and Docker's
//! `~/.docker/config.json` (`auths`, `credHelpers`, `credsStore`). `kiln login` writes
//! auth.json as podman does: `{"auths":{"HOST":{"auth":"base64(user:password)"}}}`, mode 0600.

use super::{helper, Credentials, Secret};
use crate::error::{RegistryError, Result};
use base64::Engine;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest auth file read.
const MAX_AUTH_FILE: u64 = 1 << 20;

/// Where credentials are looked up, in order, and where `kiln login` writes.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    /// containers-style files, first match wins (an explicit `--authfile` or
    /// `REGISTRY_AUTH_FILE` alone replaces the defaults).
    pub containers: Vec<PathBuf>,
    /// Docker's config.json (with credential helpers), consulted after `containers`.
    pub docker: Option<PathBuf>,
    /// Where `kiln login` writes.
    pub login: PathBuf,
}

impl AuthFiles {
    /// The standard locations from the environment (`REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`,
    /// `HOME`, `DOCKER_CONFIG`), or only `authfile` when given.
    pub fn from_env(authfile: Option<PathBuf>) -> AuthFiles {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = env("HOME");
        let docker = env("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json")));
        if let Some(f) = authfile.or_else(|| env("REGISTRY_AUTH_FILE")) {
            return AuthFiles {
                containers: vec![f.clone()],
                docker,
                login: f,
            };
        }
        let runtime = env("XDG_RUNTIME_DIR")
            .map(|d| d.join("containers/auth.json"))
            .unwrap_or_else(|| {
                PathBuf::from(format!(
                    "/run/containers/{}/auth.json",
                    rustix_uid().unwrap_or(0)
                ))
            });
        let mut containers = vec![runtime.clone()];
        if let Some(h) = &home {
            containers.push(h.join(".config/containers/auth.json"));
        }
        AuthFiles {
            containers,
            docker,
            login: runtime,
        }
    }

    /// Credentials for `registry` (`host[:port]`), from the first file that has some.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>> {
        for path in &self.containers {
            if let Some(doc) = read(path)? {
                if let Some(c) = from_auths(&doc, registry, path)? {
                    return Ok(Some(c));
                }
            }
        }
        let Some(path) = &self.docker else {
            return Ok(None);
        };
        let Some(doc) = read(path)? else {
            return Ok(None);
        };
        let helper_name = doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| m.iter().find(|(k, _)| normalize_key(k) == registry))
            .and_then(|(_, v)| v.as_str());
        if let Some(name) = helper_name {
            return helper::get(name, registry);
        }
        if let Some(c) = from_auths(&doc, registry, path)? {
            return Ok(Some(c));
        }
        match doc.get("credsStore").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => helper::get(name, registry),
            _ => Ok(None),
        }
    }
}

fn rustix_uid() -> Option<u32> {
    // The effective uid without unsafe code: the owner of /proc/self.
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").ok()?).into()
}

/// `index.docker.io`, `https://index.docker.io/v1/`, `http://host:5000` → registry host.
pub fn normalize_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// Reads a JSON auth file; `None` if it does not exist.
fn read(path: &Path) -> Result<Option<Value>> {
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_AUTH_FILE => {
            return Err(RegistryError::BadFile {
                path: path.to_owned(),
                reason: format!("larger than {MAX_AUTH_FILE} bytes"),
            })
        }
        Ok(_) => std::fs::read(path).map_err(|source| RegistryError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RegistryError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            })
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Map::new())));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RegistryError::AuthJson {
            path: path.to_owned(),
            source,
        })
}

/// The `auths` entry for `registry`, decoded.
fn from_auths(doc: &Value, registry: &str, path: &Path) -> Result<Option<Credentials>> {
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some((_, entry)) = auths.iter().find(|(k, _)| normalize_key(k) == registry) else {
        return Ok(None);
    };
    let bad = |reason: &str| RegistryError::BadFile {
        path: path.to_owned(),
        reason: format!("the entry for {registry}: {reason}"),
    };
    if let Some(token) = entry.get("identitytoken").and_then(Value::as_str) {
        if !token.is_empty() {
            return Ok(Some(Credentials {
                username: super::IDENTITY_TOKEN_USER.to_owned(),
                password: Secret::new(token),
            }));
        }
    }
    let Some(auth) = entry.get("auth").and_then(Value::as_str) else {
        return Ok(None);
    };
    if auth.is_empty() {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("\"auth\" is not base64"))?;
    let raw = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8"))?;
    let (user, pass) = raw
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not base64 of USER:PASSWORD"))?;
    Ok(Some(Credentials {
        username: user.to_owned(),
        password: Secret::new(pass),
    }))
}

/// Stores credentials for `registry` in the auth file at `path` (created with mode 0600,
/// its directory 0700; other entries kept; written atomically).
pub fn store(path: &Path, registry: &str, creds: &Credentials) -> Result<()> {
    let mut doc = read(path)?.unwrap_or_else(|| Value::Object(Map::new()));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds.username,
        creds.password.expose()
    ));
    let root = doc.as_object_mut().ok_or_else(|| RegistryError::BadFile {
        path: path.to_owned(),
        reason: "not a JSON object".into(),
    })?;
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| RegistryError::BadFile {
            path: path.to_owned(),
            reason: "\"auths\" is not an object".into(),
        })?;
    auths.retain(|k, _| normalize_key(k) != registry);
    auths.insert(registry.to_owned(), serde_json::json!({ "auth": auth }));
    write(path, &doc)
}

/// Removes the credentials for `registry`; false if there were none.
pub fn remove(path: &Path, registry: &str) -> Result<bool> {
    let Some(mut doc) = read(path)? else {
        return Ok(false);
    };
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|k, _| normalize_key(k) != registry);
    if auths.len() == before {
        return Ok(false);
    }
    write(path, &doc)?;
    Ok(true)
}

fn write(path: &Path, doc: &Value) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |action, source| RegistryError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("create the directory of", e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| io("create a temporary file beside", e))?;
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| RegistryError::BadFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io("write", e))?;
    tmp.persist(path).map_err(|e| io("replace", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> AuthFiles {
        AuthFiles {
            containers: vec![dir.join("auth.json")],
            docker: Some(dir.join("config.json")),
            login: dir.join("auth.json"),
        }
    }

    #[test]
    fn login_writes_auth_json_and_logout_removes_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = files(dir.path());
        let creds = Credentials {
            username: "u".into(),
            password: Secret::new("p:w"),
        };
        store(&f.login, "127.0.0.1:5000", &creds).expect("store");
        let text = std::fs::read_to_string(&f.login).expect("read");
        assert!(text.contains("\"127.0.0.1:5000\""), "{text}");
        assert!(text.contains("dTpwOnc="), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f.login)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(f.lookup("127.0.0.1:5000").expect("lookup"), Some(creds));
        assert_eq!(f.lookup("other:5000").expect("lookup"), None);
        assert!(remove(&f.login, "127.0.0.1:5000").expect("remove"));
        assert!(!remove(&f.login, "127.0.0.1:5000").expect("remove again"));
        assert_eq!(f.lookup("127.0.0.1:5000").expect("lookup"), None);
    }

    #[test]
    fn docker_config_auths_with_url_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = files(dir.path());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YTpi"},"http://reg:5000":{"auth":"Yzpk"}}}"#,
        )
        .expect("write");
        let hub = f.lookup("docker.io").expect("lookup").expect("creds");
        assert_eq!((hub.username.as_str(), hub.password.expose()), ("a", "b"));
        let reg = f.lookup("reg:5000").expect("lookup").expect("creds");
        assert_eq!(reg.username, "c");
    }

    #[test]
    fn broken_files_are_named_without_secrets() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = files(dir.path());
        std::fs::write(
            &f.login,
            r#"{"auths":{"r":{"auth":"c2VjcmV0LW5vLWNvbG9u"}}}"#,
        )
        .expect("write");
        let err = f.lookup("r").expect_err("no colon").to_string();
        assert!(
            err.contains("auth.json") && !err.contains("secret-no-colon"),
            "{err}"
        );
        std::fs::write(&f.login, "{not json").expect("write");
        let err = f.lookup("r").expect_err("bad json").to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }
}
