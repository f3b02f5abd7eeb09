//! `--secret` and `--ssh`: what the build gives `RUN --mount=type=secret|ssh`.
//!
//! Secret values are read once when the build starts and live only in memory,
//! on a private tmpfs while a step runs, and in that step's environment when
//! asked for; they are never written to the store, a layer, the history or a
//! message (their `Debug` says `<redacted>`).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a secret comes from (`--secret id=ID,src=FILE` or `env=VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// One `--secret` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

impl SecretSpec {
    /// Parse docker buildx's syntax: `id=ID[,type=file|env][,src|source=FILE][,env=VAR]`.
    /// With neither a file nor a variable, the variable named ID is used when it is
    /// set, else the file named ID (as buildx).
    pub fn parse(spec: &str) -> Result<SecretSpec, String> {
        let (mut id, mut typ, mut src, mut env) = (None, None, None, None);
        for field in spec.split(',') {
            let (k, v) = field.split_once('=').ok_or_else(|| {
                format!("--secret {spec:?}: field {field:?} is not key=value; write id=ID,src=FILE or id=ID,env=VAR")
            })?;
            match k.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(v.to_string()),
                "type" => typ = Some(v.to_string()),
                "src" | "source" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                other => {
                    return Err(format!(
                        "--secret {spec:?}: unknown key {other:?}; keys are id, type, src (or source) and env"
                    ))
                }
            }
        }
        let id = id.filter(|i| !i.is_empty()).ok_or_else(|| {
            format!("--secret {spec:?} has no id; write id=ID,src=FILE or id=ID,env=VAR")
        })?;
        check_id("--secret", &id)?;
        let source = match (typ.as_deref(), src, env) {
            (Some("env"), Some(v), None) | (_, None, Some(v)) => SecretSource::Env(v),
            (Some("env"), None, None) => SecretSource::Env(id.clone()),
            (None | Some("file"), Some(f), None) => SecretSource::File(f.into()),
            (Some("file"), None, None) => SecretSource::File(id.clone().into()),
            (None, None, None) => {
                if std::env::var_os(&id).is_some() {
                    SecretSource::Env(id.clone())
                } else {
                    SecretSource::File(id.clone().into())
                }
            }
            (Some(t), _, _) if t != "env" && t != "file" => {
                return Err(format!(
                    "--secret {spec:?}: unknown type {t:?}; use type=file or type=env"
                ))
            }
            _ => {
                return Err(format!(
                    "--secret {spec:?}: give either src=FILE or env=VAR, not both"
                ))
            }
        };
        Ok(SecretSpec { id, source })
    }

    /// Read the value now.
    pub fn read(&self) -> Result<Secret, String> {
        let bytes = match &self.source {
            SecretSource::File(p) => std::fs::read(p).map_err(|e| {
                format!(
                    "--secret id={}: cannot read {}: {e}; give a readable file with src=",
                    self.id,
                    p.display()
                )
            })?,
            SecretSource::Env(v) => std::env::var_os(v)
                .ok_or_else(|| {
                    format!(
                        "--secret id={}: the environment variable {v} is not set; set it or give src=FILE",
                        self.id
                    )
                })?
                .into_encoded_bytes(),
        };
        Ok(Secret(bytes))
    }
}

/// An id (of a secret, an SSH agent or a cache) must not be a path that climbs.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.split('/').any(|c| c == "..") || id.contains('\0') {
        return Err(format!(
            "{what}: id {id:?} holds `..` or a NUL byte; ids are names, like id=npmrc"
        ));
    }
    Ok(())
}

/// A secret's value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The secrets of a build by id.
pub type Secrets = BTreeMap<String, Secret>;

/// One `--ssh` flag: an agent socket under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    pub id: String,
    pub socket: PathBuf,
}

impl SshSpec {
    /// `default` (the agent of `$SSH_AUTH_SOCK`), `ID=SOCKET`, or `default=SOCKET`.
    /// Key files are refused: kiln forwards agents, it does not load keys.
    pub fn parse(spec: &str) -> Result<SshSpec, String> {
        let (id, path) = match spec.split_once('=') {
            Some((id, p)) => (id.to_string(), Some(p.to_string())),
            None => (spec.to_string(), None),
        };
        if id.is_empty() {
            return Err(format!("--ssh {spec:?}: write default, or ID=SOCKET"));
        }
        check_id("--ssh", &id)?;
        let socket = match path.filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p.split(',').next().unwrap_or_default()),
            None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).ok_or_else(|| {
                format!("--ssh {spec}: SSH_AUTH_SOCK is not set; start ssh-agent (eval $(ssh-agent); ssh-add) or give --ssh {id}=/path/to/agent.sock")
            })?,
        };
        let meta = std::fs::metadata(&socket).map_err(|e| {
            format!(
                "--ssh {spec}: {}: {e}; give the socket of a running ssh-agent",
                socket.display()
            )
        })?;
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(format!(
                "--ssh {spec}: {} is not a socket; kiln forwards ssh-agent sockets only: load the key with ssh-add and give the agent's socket",
                socket.display()
            ));
        }
        Ok(SshSpec { id, socket })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_flags_follow_buildx() {
        let s = |t: &str| SecretSpec::parse(t).expect(t).source;
        assert_eq!(s("id=a,src=/f"), SecretSource::File("/f".into()));
        assert_eq!(s("id=a,source=/f"), SecretSource::File("/f".into()));
        assert_eq!(s("id=a,env=TOKEN"), SecretSource::Env("TOKEN".into()));
        assert_eq!(s("id=a,type=env"), SecretSource::Env("a".into()));
        assert_eq!(s("id=a,type=file"), SecretSource::File("a".into()));
        assert!(SecretSpec::parse("src=/f").is_err());
        assert!(SecretSpec::parse("id=a,src=/f,env=X").is_err());
        assert!(SecretSpec::parse("id=../../x,src=/f").is_err());
        assert!(SecretSpec::parse("id=a,color=red").is_err());
        assert_eq!(
            format!("{:?}", Secret(b"hunter2".to_vec())),
            "Secret(<redacted>)"
        );
    }
}
