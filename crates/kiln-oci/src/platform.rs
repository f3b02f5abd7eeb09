//! Platforms (`linux/amd64`, `linux/arm/v7`) in the OCI/Go naming: the one platform type
//! of kiln, used by `FROM --platform`, `build --platform`, `pull --platform` and index
//! selection. It lives here, beside image configs, because a platform is an OCI concept
//! (an index entry's `platform`, a config's `os`/`architecture`/`variant`).

use serde::Serialize;

/// Operating systems and architectures Go (and so OCI platforms) know by name.
const KNOWN_OS: [&str; 18] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];
const KNOWN_ARCH: [&str; 24] = [
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// An OS/architecture/variant triple (`linux/arm64`, `linux/arm/v7`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Platform {
    /// GOOS name, e.g. `linux`.
    pub os: String,
    /// GOARCH name, e.g. `amd64`.
    pub arch: String,
    /// e.g. `v7`.
    pub variant: Option<String>,
}

/// Why a platform string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// A single word that is neither a known OS nor a known architecture.
    #[error("invalid platform \"{input}\": unknown operating system or architecture; write os/arch[/variant], e.g. linux/amd64")]
    UnknownWord {
        /// The string given.
        input: String,
    },
    /// Not `os/arch[/variant]` with non-empty components of letters, digits, `_`, `-`, `.`.
    #[error("invalid platform \"{input}\": expected os/arch[/variant], e.g. linux/amd64")]
    Malformed {
        /// The string given.
        input: String,
    },
}

impl Platform {
    /// The machine kiln runs on: `linux/<host arch>`.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: crate::image::host_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`, normalising common aliases as containerd does
    /// (`x86_64` is `amd64`, `arm64/v8` is `arm64`, `armhf` is `arm/v7`). A single word is
    /// an OS (on the host's architecture) or an architecture (of linux), and must be a
    /// known one.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        if let [one] = parts.as_slice() {
            return Platform::parse_word(one)
                .ok_or_else(|| PlatformError::UnknownWord { input: clip(s) });
        }
        let malformed = || PlatformError::Malformed { input: clip(s) };
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(malformed()),
        };
        if !component(os) || !component(arch) || variant.is_some_and(|v| !component(v)) {
            return Err(malformed());
        }
        let (arch, variant) = normalize_arch(
            &arch.to_ascii_lowercase(),
            variant.map(str::to_ascii_lowercase),
        );
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            arch,
            variant,
        })
    }

    /// A known OS on the host's architecture, or a known architecture of linux.
    fn parse_word(word: &str) -> Option<Platform> {
        let lower = word.to_ascii_lowercase();
        if KNOWN_OS.contains(&lower.as_str()) {
            return Some(Platform {
                os: lower,
                ..Platform::host()
            });
        }
        if !component(word) {
            return None;
        }
        let (arch, variant) = normalize_arch(&lower, None);
        KNOWN_ARCH.contains(&arch.as_str()).then(|| Platform {
            os: "linux".into(),
            arch,
            variant,
        })
    }
}

/// One component: letters, digits, `_`, `-` and `.`, not empty and not only dots (a
/// platform names directories in some layouts: `..` must never be one).
fn component(p: &str) -> bool {
    !p.is_empty()
        && !p.chars().all(|c| c == '.')
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// The GOARCH name and variant for an architecture alias (lower case).
fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match (arch, variant) {
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_string(), v),
        ("aarch64" | "arm64", Some(v)) if v == "v8" => ("arm64".to_string(), None),
        ("aarch64" | "arm64", v) => ("arm64".to_string(), v),
        ("armhf" | "arm", None) => ("arm".to_string(), Some("v7".to_string())),
        ("armel", None) => ("arm".to_string(), Some("v6".to_string())),
        ("i386" | "386", v) => ("386".to_string(), v),
        (a, v) => (a.to_string(), v),
    }
}

/// The input as quoted in a message: at most 200 characters, control characters and
/// quotes escaped (it may come from a hostile Dockerfile).
fn clip(s: &str) -> String {
    s.chars().take(200).flat_map(char::escape_debug).collect()
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Platform, PlatformError};

    fn p(s: &str) -> Result<String, PlatformError> {
        Platform::parse(s).map(|p| p.to_string())
    }

    /// The cases of the former kiln-dockerfile parser (`FROM --platform`, `build --platform`).
    #[test]
    fn parses_and_normalises() {
        assert_eq!(p("linux/amd64"), Ok("linux/amd64".into()));
        assert_eq!(p("linux/x86_64"), Ok("linux/amd64".into()));
        assert_eq!(p("linux/arm64/v8"), Ok("linux/arm64".into()));
        assert_eq!(p("linux/arm"), Ok("linux/arm/v7".into()));
        assert_eq!(p("arm64"), Ok("linux/arm64".into()));
        assert_eq!(p("aarch64"), Ok("linux/arm64".into()));
        assert_eq!(
            Platform::parse("windows").map(|p| (p.os, p.arch)),
            Ok(("windows".into(), Platform::host().arch))
        );
        assert!(p("linuxx").is_err());
        assert!(p("linux/").is_err());
        assert!(p("a/b/c/d").is_err());
    }

    /// The cases of the former kiln-registry parser (`pull --platform`, index selection):
    /// a bare OS now means the host's architecture, as for `build --platform`.
    #[test]
    fn registry_cases() {
        assert_eq!(p("linux/arm/v6"), Ok("linux/arm/v6".into()));
        assert_eq!(p("linux/s390x"), Ok("linux/s390x".into()));
        assert_eq!(
            Platform::parse("linux"),
            Ok(Platform {
                os: "linux".into(),
                ..Platform::host()
            })
        );
        assert!(p("linux/amd64/v1/x").is_err());
        assert!(p("linux/../x").is_err());
        assert!(p("../amd64").is_err());
        assert!(p("linux/amd64/.").is_err());
        assert!(p("..").is_err());
    }

    #[test]
    fn messages_name_the_input_and_the_form() {
        assert_eq!(
            Platform::parse("amd46").map_err(|e| e.to_string()),
            Err("invalid platform \"amd46\": unknown operating system or architecture; write os/arch[/variant], e.g. linux/amd64".into())
        );
        assert_eq!(
            Platform::parse("linux/").map_err(|e| e.to_string()),
            Err("invalid platform \"linux/\": expected os/arch[/variant], e.g. linux/amd64".into())
        );
        assert_eq!(
            Platform::parse("a\u{1b}[2J/b/c/d").map_err(|e| e.to_string()),
            Err("invalid platform \"a\\u{1b}[2J/b/c/d\": expected os/arch[/variant], e.g. linux/amd64".into())
        );
        let long = "x/".repeat(1000);
        assert!(Platform::parse(&long).expect_err("long").to_string().len() < 400);
    }
}
