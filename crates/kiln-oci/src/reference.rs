//! Image references (`[registry[:port]/]repository[:tag][@sha256:hex]`) with
//! Docker's grammar and normalisation: `debian` is
//! `docker.io/library/debian:latest`, `index.docker.io` is `docker.io`, and a
//! reference without tag or digest gets the tag `latest`.

use crate::error_kind::ErrorKind;
use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical registry name.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Docker Hub's legacy registry name, normalised to [`DEFAULT_REGISTRY`].
pub const LEGACY_REGISTRY: &str = "index.docker.io";
/// Namespace of Docker Hub's official images.
pub const OFFICIAL_PREFIX: &str = "library/";
/// Tag given to references that have neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository path accepted (Docker's limit).
pub const MAX_REPOSITORY_LEN: usize = 255;
/// Longest tag accepted.
pub const MAX_TAG_LEN: usize = 128;

const EXPECTED: &str = "expected [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST], e.g. debian:12 or localhost:5000/team/app:1.0";

/// Errors from parsing an image reference.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The input was empty.
    #[error("invalid reference format: empty image name; {EXPECTED}")]
    Empty,
    /// The input does not follow the reference grammar.
    #[error("invalid reference format: {reason} in {input:?}; {EXPECTED}")]
    Format {
        /// The rejected input (truncated).
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// The repository part contains uppercase letters.
    #[error("invalid reference format: repository name ({repository}) must be lowercase in {input:?}; hint: use {suggestion:?}")]
    Uppercase {
        /// The rejected input (truncated).
        input: String,
        /// The offending repository part.
        repository: String,
        /// The input with its repository lowercased.
        suggestion: String,
    },
    /// The repository path is longer than [`MAX_REPOSITORY_LEN`].
    #[error("invalid reference format: repository name must not be more than {MAX_REPOSITORY_LEN} characters (got {len}) in {input:?}")]
    NameTooLong {
        /// The rejected input (truncated).
        input: String,
        /// The repository length.
        len: usize,
    },
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag format {tag:?} in {input:?}: a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'")]
    Tag {
        /// The rejected input (truncated).
        input: String,
        /// The rejected tag (truncated).
        tag: String,
    },
    /// The digest part is invalid.
    #[error("invalid reference format: bad digest in {input:?}: {source}")]
    Digest {
        /// The rejected input (truncated).
        input: String,
        /// The digest error.
        source: DigestError,
    },
    /// The input is a 64-character hex string, which is reserved for image IDs.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings; to refer to an image by ID use sha256:{input}")]
    HexName {
        /// The rejected input.
        input: String,
    },
}

impl ReferenceError {
    /// The class of this failure: a name that does not parse is [`ErrorKind::Rejected`]
    /// (from a Dockerfile's `FROM`, an archive's tags, a cache record). A name the user
    /// typed on the command line (`-t`, `--cache-to`) is a usage error, which the CLI
    /// decides itself before anything runs.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Rejected
    }
}

/// A normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/debian`.
    pub repository: String,
    /// Tag, e.g. `latest`.
    pub tag: Option<String>,
    /// Manifest digest.
    pub digest: Option<Digest>,
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

impl Reference {
    /// Parses a reference the way `docker` does for user input, normalising
    /// familiar names and adding the `latest` tag when neither tag nor digest is given.
    pub fn parse_normalized(input: &str) -> Result<Reference, ReferenceError> {
        let mut r = Self::parse_normalized_untagged(input)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Like [`Reference::parse_normalized`] but without adding a default tag.
    pub fn parse_normalized_untagged(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let format = |reason: &str| ReferenceError::Format {
            input: truncate(input),
            reason: reason.to_owned(),
        };
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(ReferenceError::HexName {
                input: input.to_owned(),
            });
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                let digest = Digest::parse(d).map_err(|source| ReferenceError::Digest {
                    input: truncate(input),
                    source,
                })?;
                (n, Some(digest))
            }
            None => (input, None),
        };
        if name_tag.is_empty() {
            return Err(format("missing repository name"));
        }
        let (registry, remainder) = split_registry(name_tag);
        let (repository, tag) = match remainder.split_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (remainder.as_str(), None),
        };
        if repository.to_ascii_lowercase() != repository {
            let shown = if input.contains(repository) {
                repository
            } else {
                repository
                    .strip_prefix(OFFICIAL_PREFIX)
                    .unwrap_or(repository)
            };
            let lower = shown.to_ascii_lowercase();
            let suggestion = match input.find(shown) {
                Some(at) => format!("{}{}{}", &input[..at], lower, &input[at + shown.len()..]),
                None => lower,
            };
            // Suggest the lowercase name only when it is itself valid; otherwise say what
            // else is wrong with the name.
            if let Err(e) = Self::parse_normalized_untagged(&suggestion) {
                return Err(match e {
                    ReferenceError::Format { reason, .. } => format(&reason),
                    other => other,
                });
            }
            return Err(ReferenceError::Uppercase {
                input: truncate(input),
                repository: truncate(repository),
                suggestion: truncate(&suggestion),
            });
        }
        validate_registry(registry).map_err(|reason| format(&reason))?;
        validate_repository(repository).map_err(|reason| format(&reason))?;
        if repository.len() > MAX_REPOSITORY_LEN {
            return Err(ReferenceError::NameTooLong {
                input: truncate(input),
                len: repository.len(),
            });
        }
        if let Some(tag) = tag {
            if !is_valid_tag(tag) {
                return Err(ReferenceError::Tag {
                    input: truncate(input),
                    tag: truncate(tag),
                });
            }
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short repository name Docker shows: `debian` for
    /// `docker.io/library/debian`, `user/app` for `docker.io/user/app`,
    /// `localhost:5000/a` unchanged.
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_REGISTRY {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.repository.clone(),
        }
    }

    /// The short form Docker shows: `debian:latest`, `localhost:5000/a:1`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// A copy with `tag` set (validated) and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::Tag {
                input: truncate(&self.to_string()),
                tag: truncate(tag),
            });
        }
        Ok(Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// A copy with the digest removed.
    pub fn without_digest(&self) -> Reference {
        Reference {
            digest: None,
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

/// Docker's domain split: the first path element is a registry if it is
/// `localhost`, contains `.` or `:`, or has uppercase letters.
fn split_registry(name: &str) -> (&str, String) {
    let (registry, remainder) = match name.split_once('/') {
        None => (DEFAULT_REGISTRY, name),
        Some((first, rest)) => {
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.to_ascii_lowercase() != first
            {
                (first, rest)
            } else {
                (DEFAULT_REGISTRY, name)
            }
        }
    };
    let registry = if registry == LEGACY_REGISTRY {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    let remainder = if registry == DEFAULT_REGISTRY && !remainder.contains('/') {
        format!("{OFFICIAL_PREFIX}{remainder}")
    } else {
        remainder.to_owned()
    };
    (registry, remainder)
}

fn validate_registry(registry: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid registry {:?}: {why}", truncate(registry)));
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return bad("unterminated IPv6 address");
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad("IPv6 address must be hex digits and ':'");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("unexpected characters after IPv6 address"),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return bad("empty host name");
        }
        for component in host.split('.') {
            let b = component.as_bytes();
            let ok = !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric);
            if !ok {
                return bad(
                    "host name components are letters, digits and inner '-', separated by '.'",
                );
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad("port must be digits");
        }
    }
    Ok(())
}

fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("repository name must have at least one component".to_owned());
    }
    for component in repository.split('/') {
        if !is_path_component(component) {
            return Err(format!(
                "invalid repository path component {:?}: components are lowercase letters and digits, separated inside by '.', '_', '__' or dashes, and joined by '/'",
                truncate(component)
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < b.len() {
        if expect_alnum {
            if !alnum(b[i]) {
                return false;
            }
            while i < b.len() && alnum(b[i]) {
                i += 1;
            }
            expect_alnum = false;
        } else {
            let sep_len = match b[i] {
                b'.' => 1,
                b'_' => {
                    if b.get(i + 1) == Some(&b'_') {
                        2
                    } else {
                        1
                    }
                }
                b'-' => b[i..].iter().take_while(|c| **c == b'-').count(),
                _ => return false,
            };
            i += sep_len;
            expect_alnum = true;
        }
    }
    !expect_alnum
}

/// `[\w][\w.-]{0,127}`
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && b.first().is_some_and(word)
        && b.iter().all(|c| word(c) || *c == b'.' || *c == b'-')
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Reference::parse_normalized(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        match Reference::parse_normalized(s) {
            Ok(r) => r.to_string(),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn normalises_valid_references() {
        let cases = [
            ("debian", "docker.io/library/debian:latest"),
            ("debian:12", "docker.io/library/debian:12"),
            ("library/debian", "docker.io/library/debian:latest"),
            ("docker.io/debian", "docker.io/library/debian:latest"),
            ("index.docker.io/debian", "docker.io/library/debian:latest"),
            ("index.docker.io/user/app:v1", "docker.io/user/app:v1"),
            ("user/app", "docker.io/user/app:latest"),
            ("a/b/c/d", "docker.io/a/b/c/d:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b:1", "localhost:5000/a/b:1"),
            ("localhost:5000", "docker.io/library/localhost:5000"),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
            ("[::1]:5000/x:t", "[::1]:5000/x:t"),
            ("[fe80::1]/x", "[fe80::1]/x:latest"),
            ("Registry.Example.com/x", "Registry.Example.com/x:latest"),
            (
                "ghcr.io/o-w/r_e.p__o---x:v1.2.3-rc_1",
                "ghcr.io/o-w/r_e.p__o---x:v1.2.3-rc_1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), want, "{input}");
        }
        assert_eq!(full(&format!("x@{D}")), format!("docker.io/library/x@{D}"));
        assert_eq!(
            full(&format!("x:tag@{D}")),
            format!("docker.io/library/x:tag@{D}")
        );
        assert_eq!(
            full(&format!("example.com:443/a/b:c@{D}")),
            format!("example.com:443/a/b:c@{D}")
        );
        let t128 = "t".repeat(128);
        assert_eq!(
            full(&format!("x:{t128}")),
            format!("docker.io/library/x:{t128}")
        );
        let r255 = format!("a/{}", "b".repeat(253));
        assert_eq!(
            full(&format!("example.com/{r255}")),
            format!("example.com/{r255}:latest")
        );
    }

    #[test]
    fn fields_and_familiar_forms() {
        let r = Reference::parse_normalized("localhost:5000/a:1").expect("valid");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "a");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.familiar(), "localhost:5000/a:1");
        let cases = [
            ("debian", "debian:latest"),
            ("docker.io/library/debian:12", "debian:12"),
            ("user/app:1", "user/app:1"),
            ("library/a/b", "library/a/b:latest"),
            ("quay.io/library/x", "quay.io/library/x:latest"),
        ];
        for (input, want) in cases {
            let r = Reference::parse_normalized(input).expect(input);
            assert_eq!(r.familiar(), want, "{input}");
        }
        let r = Reference::parse_normalized(&format!("x@{D}")).expect("digest");
        assert_eq!(r.tag, None);
        assert_eq!(r.familiar(), format!("x@{D}"));
        let u = Reference::parse_normalized_untagged("x").expect("untagged");
        assert_eq!(u.tag, None);
        assert_eq!(u.to_string(), "docker.io/library/x");
        assert_eq!(
            u.with_tag("v2").expect("tag").to_string(),
            "docker.io/library/x:v2"
        );
        assert!(u.with_tag("-bad").is_err());
    }

    #[test]
    fn rejects_invalid_references() {
        let hex64 = "a".repeat(64);
        let long_tag = format!("x:{}", "t".repeat(129));
        let long_repo = format!("example.com/{}", "a".repeat(256));
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("Debian".into(), "must be lowercase"),
            ("user/App:1".into(), "must be lowercase"),
            ("x:".into(), "invalid tag format"),
            ("x:-a".into(), "invalid tag format"),
            ("x:.a".into(), "invalid tag format"),
            ("x:a:b".into(), "invalid tag format"),
            ("x:a/b".into(), "port must be digits"),
            (long_tag, "invalid tag format"),
            (long_repo, "more than 255"),
            (hex64, "64-byte hexadecimal"),
            ("x@sha256:abc".into(), "bad digest"),
            ("x@md5:abc".into(), "bad digest"),
            ("@sha256:e3b0".into(), "bad digest"),
            (format!("@{D}"), "missing repository"),
            ("/x".into(), "repository path component"),
            ("x/".into(), "repository path component"),
            ("a//b".into(), "repository path component"),
            ("-a".into(), "repository path component"),
            ("a-".into(), "repository path component"),
            ("a..b".into(), "repository path component"),
            ("a___b".into(), "repository path component"),
            ("a b".into(), "repository path component"),
            ("../etc/passwd".into(), "invalid registry"),
            ("x/../y".into(), "repository path component"),
            ("example.com:/x".into(), "port must be digits"),
            ("example.com:99a/x".into(), "port must be digits"),
            ("-bad.com/x".into(), "invalid registry"),
            ("bad..com/x".into(), "invalid registry"),
            ("[::1/x".into(), "unterminated IPv6"),
            ("[zz]/x".into(), "repository path component"),
            ("localhost/".into(), "at least one component"),
            ("a\0b".into(), "repository path component"),
            ("ünïcode".into(), "repository path component"),
        ];
        for (input, want) in cases {
            match Reference::parse_normalized(&input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{input:?}: {msg}");
                    assert!(msg.contains("invalid"), "{input:?}: {msg}");
                }
            }
        }
    }

    #[test]
    fn uppercase_error_has_hint() {
        let e = Reference::parse_normalized("MyApp:1").expect_err("uppercase");
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid reference format: repository name"),
            "{msg}"
        );
        assert!(msg.contains("hint: use \"myapp:1\""), "{msg}");
        // No hint that is itself invalid: the other fault is named instead.
        let e = Reference::parse_normalized("Bad Name::x").expect_err("invalid");
        let msg = e.to_string();
        assert!(!msg.contains("hint: use"), "{msg}");
        assert!(msg.contains("\"Bad Name::x\""), "{msg}");
    }

    #[test]
    fn serde_round_trip() {
        let r = Reference::parse_normalized("debian:12").expect("valid");
        let json = serde_json::to_string(&r).expect("ser");
        assert_eq!(json, "\"docker.io/library/debian:12\"");
        let back: Reference = serde_json::from_str(&json).expect("de");
        assert_eq!(back, r);
    }

    #[test]
    fn tag_grammar() {
        for ok in ["a", "A", "_", "1.0", "v1_2-3.4", "LATEST"] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in ["", ".", "-", ".a", "-a", "a/b", "a:b", "a b", "ä"] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }
}
