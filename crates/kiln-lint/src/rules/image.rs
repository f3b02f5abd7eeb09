//! Base images: tags, registries, platforms.

use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::plan::Base;

pub(super) static LATEST: Rule = Rule {
    id: "KL060",
    name: "image-latest",
    severity: Severity::Warning,
    summary: "A base image with the `latest` tag.",
    message: "base image `{0}` uses the `latest` tag",
    why: "`latest` moves whenever the image's publisher pushes a new version. Builds of the same Dockerfile then start from different images, and a new major version can break the build or the program at any time.",
    fix: "Use a specific tag (`python:3.12-slim`), ideally with a digest (`python:3.12-slim@sha256:...`).",
    hadolint: Some("DL3007"),
    buildkit: None,
};

pub(super) static UNTAGGED: Rule = Rule {
    id: "KL061",
    name: "image-untagged",
    severity: Severity::Warning,
    summary: "A base image without a tag or digest.",
    message: "base image `{0}` has no tag: it means `{0}:latest`",
    why: "An image reference without a tag is `latest`, with the same problems, and it is less obvious to a reader.",
    fix: "Add a specific tag (`FROM debian:bookworm-slim`) or a digest.",
    hadolint: Some("DL3006"),
    buildkit: None,
};

pub(super) static UNTRUSTED_REGISTRY: Rule = Rule {
    id: "KL062",
    name: "untrusted-registry",
    severity: Severity::Error,
    summary: "A base image from a registry that is not in `trusted-registries` (only when configured).",
    message: "base image `{0}` comes from registry `{1}`, which is not trusted",
    why: "Organisations often allow base images only from vetted registries (a mirror, their own registry). Anything else bypasses that review.",
    fix: "Use an image from a trusted registry, or add the registry to `trusted-registries` in `.kiln.toml`.",
    hadolint: Some("DL3026"),
    buildkit: None,
};

pub(super) static PLATFORM_CONST: Rule = Rule {
    id: "KL063",
    name: "from-platform-constant",
    severity: Severity::Warning,
    summary: "`FROM --platform=` with a constant value.",
    message: "FROM --platform should not use the constant value `{0}`",
    why: "A constant platform makes the stage ignore `--platform` on the command line: a multi-platform build then silently produces the wrong architecture. `--platform=$BUILDPLATFORM` (for cross-compiling stages) is fine.",
    fix: "Remove the flag, or use `$BUILDPLATFORM` / `$TARGETPLATFORM` (and `--platform` on the command line to choose).",
    hadolint: Some("DL3029"),
    buildkit: Some("FromPlatformFlagConstDisallowed"),
};

pub(super) static REDUNDANT_TARGET_PLATFORM: Rule = Rule {
    id: "KL064",
    name: "redundant-target-platform",
    severity: Severity::Info,
    summary: "`FROM --platform=$TARGETPLATFORM`, which is the default.",
    message: "--platform={0} is the default and can be removed",
    why: "Every stage is built for the target platform unless told otherwise; the flag only adds noise.",
    fix: "Remove `--platform=$TARGETPLATFORM`.",
    hadolint: None,
    buildkit: Some("RedundantTargetPlatform"),
};

pub(super) static RULES: &[&Rule] = &[
    &LATEST,
    &UNTAGGED,
    &UNTRUSTED_REGISTRY,
    &PLATFORM_CONST,
    &REDUNDANT_TARGET_PLATFORM,
];

/// (registry, tag, digest) of an image reference.
pub(crate) fn split_ref(image: &str) -> (String, Option<&str>, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let tag = name[last_slash..].split_once(':').map(|(_, t)| t);
    let first = name.split('/').next().unwrap_or("");
    let registry = if name.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
        first.to_ascii_lowercase()
    } else {
        "docker.io".to_string()
    };
    (registry, tag, digest)
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    for (stage, planned) in cx.df.stages.iter().zip(&cx.plan.stages) {
        let span = stage.from.base.span;
        if let Base::Image(image) = &planned.base {
            if !image.contains('$') {
                let (registry, tag, digest) = split_ref(image);
                if tag == Some("latest") && digest.is_none() {
                    out.emit(&LATEST, span, &[image]);
                }
                if tag.is_none() && digest.is_none() {
                    out.emit(&UNTAGGED, span, &[image]);
                }
                let trusted = &cx.input.config.trusted_registries;
                let ok = trusted.iter().any(|t| {
                    let t = t.to_ascii_lowercase();
                    t == registry
                        || (registry == "docker.io"
                            && matches!(
                                t.as_str(),
                                "index.docker.io" | "registry-1.docker.io" | "hub.docker.com"
                            ))
                });
                if !trusted.is_empty() && !ok {
                    out.emit(&UNTRUSTED_REGISTRY, span, &[image, &registry]);
                }
            }
        }
        if let Some(p) = &stage.from.platform {
            let v = p.value.trim();
            if !v.contains('$') {
                out.emit(&PLATFORM_CONST, p.span, &[v]);
            } else if matches!(v, "$TARGETPLATFORM" | "${TARGETPLATFORM}") {
                out.emit(&REDUNDANT_TARGET_PLATFORM, p.span, &[v]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_ref;

    #[test]
    fn refs() {
        assert_eq!(split_ref("ubuntu"), ("docker.io".into(), None, None));
        assert_eq!(
            split_ref("localhost:5000/a/b:1"),
            ("localhost:5000".into(), Some("1"), None)
        );
        assert_eq!(
            split_ref("ghcr.io/x/y@sha256:ab"),
            ("ghcr.io".into(), None, Some("sha256:ab"))
        );
        assert_eq!(
            split_ref("library/debian:12"),
            ("docker.io".into(), Some("12"), None)
        );
    }
}
