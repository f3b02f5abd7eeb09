//! Platforms (`linux/amd64`, `linux/arm/v7`) in the OCI/Go naming.

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

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The machine kiln runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: None,
        }
    }

    /// Parse `os/arch[/variant]`, normalising common aliases. A single word is an OS (on
    /// the host's architecture) or an architecture (of linux), and must be a known one.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if let [one] = parts.as_slice() {
            let lower = one.to_ascii_lowercase();
            if KNOWN_OS.contains(&lower.as_str()) {
                return Ok(Platform {
                    os: lower,
                    ..Platform::host()
                });
            }
            return Platform::parse(&format!("linux/{one}"))
                .ok()
                .filter(|p| KNOWN_ARCH.contains(&p.arch.as_str()))
                .ok_or_else(|| {
                    format!("invalid platform \"{s}\": unknown operating system or architecture; write os/arch[/variant], e.g. linux/amd64")
                });
        }
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => {
                return Err(format!(
                    "invalid platform \"{s}\": expected os/arch[/variant], e.g. linux/amd64"
                ))
            }
        };
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        };
        if !ok(os) || !ok(arch) || variant.is_some_and(|v| !ok(v)) {
            return Err(format!(
                "invalid platform \"{s}\": expected os/arch[/variant], e.g. linux/amd64"
            ));
        }
        let os = os.to_ascii_lowercase();
        let (arch, variant) = match (
            arch.to_ascii_lowercase().as_str(),
            variant.map(str::to_ascii_lowercase),
        ) {
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_string(), v),
            ("aarch64" | "arm64", Some(v)) if v == "v8" => ("arm64".to_string(), None),
            ("aarch64" | "arm64", v) => ("arm64".to_string(), v),
            ("armhf" | "arm", None) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", None) => ("arm".to_string(), Some("v6".to_string())),
            ("i386" | "386", v) => ("386".to_string(), v),
            (a, v) => (a.to_string(), v),
        };
        Ok(Platform { os, arch, variant })
    }
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
    use super::Platform;

    #[test]
    fn parses_and_normalises() {
        let p = |s: &str| Platform::parse(s).map(|p| p.to_string());
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
}
