//! `--cache-to` and `--cache-from` values: `type=registry,ref=HOST/REPO:TAG[,mode=min|max]
//! [,compression=gzip|zstd]` (BuildKit's syntax; a bare reference means type=registry).

use crate::Compression;
use kiln_oci::Reference;

/// Which steps `--cache-to` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// The steps of the stages the image is built from (the target and its FROM chain).
    Min,
    /// Every step of every stage built.
    Max,
}

impl CacheMode {
    /// `min` or `max`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Min => "min",
            CacheMode::Max => "max",
        }
    }
}

/// A `--cache-to` destination.
#[derive(Debug, Clone)]
pub struct CacheTo {
    /// Where the cache manifest goes.
    pub reference: Reference,
    /// Which steps.
    pub mode: CacheMode,
    /// Layer compression for the registry (gzip by default).
    pub compression: Compression,
}

/// The `KEY=VALUE` pairs of a spec; `type` defaults to registry when the spec is a
/// bare reference and `bare_ok`.
fn pairs(flag: &str, spec: &str, bare_ok: bool) -> Result<Vec<(String, String)>, String> {
    if bare_ok && !spec.contains('=') {
        return Ok(vec![
            ("type".into(), "registry".into()),
            ("ref".into(), spec.to_owned()),
        ]);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "{flag} {spec:?}: {part:?} is not KEY=VALUE; write {flag} type=registry,ref=HOST/REPOSITORY:TAG"
            ));
        };
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    match out
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
    {
        Some("registry") => Ok(out),
        Some(other) => Err(format!(
            "{flag} {spec:?}: cache type {other:?} is not supported; kiln supports type=registry"
        )),
        None => Err(format!(
            "{flag} {spec:?}: no type; write {flag} type=registry,ref=HOST/REPOSITORY:TAG"
        )),
    }
}

fn reference(flag: &str, spec: &str, pairs: &[(String, String)]) -> Result<Reference, String> {
    let r = pairs
        .iter()
        .find(|(k, _)| k == "ref")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!("{flag} {spec:?}: no ref; add ref=HOST/REPOSITORY:TAG (where the cache lives)")
        })?;
    Reference::parse_normalized(r).map_err(|e| format!("{flag} {spec:?}: invalid ref {r:?}: {e}"))
}

/// Parses a `--cache-to` value.
pub fn parse_cache_to(spec: &str) -> Result<CacheTo, String> {
    let flag = "--cache-to";
    let pairs = pairs(flag, spec, false)?;
    let mut mode = CacheMode::Min;
    let mut compression = Compression::Gzip;
    for (k, v) in &pairs {
        match (k.as_str(), v.as_str()) {
            ("type" | "ref", _) => {}
            ("mode", "min") => mode = CacheMode::Min,
            ("mode", "max") => mode = CacheMode::Max,
            ("mode", v) => {
                return Err(format!(
                    "{flag} {spec:?}: mode={v:?}: use mode=min or mode=max"
                ))
            }
            ("compression", "gzip") => compression = Compression::Gzip,
            ("compression", "zstd") => compression = Compression::Zstd,
            ("compression", v) => {
                return Err(format!(
                    "{flag} {spec:?}: compression={v:?}: use compression=gzip or compression=zstd"
                ))
            }
            (k, _) => {
                return Err(format!(
                    "{flag} {spec:?}: unknown key {k:?}; keys are type, ref, mode and compression"
                ))
            }
        }
    }
    Ok(CacheTo {
        reference: reference(flag, spec, &pairs)?,
        mode,
        compression,
    })
}

/// Parses a `--cache-from` value into the reference to import.
pub fn parse_cache_from(spec: &str) -> Result<Reference, String> {
    let flag = "--cache-from";
    let pairs = pairs(flag, spec, true)?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "type" && k != "ref") {
        return Err(format!(
            "{flag} {spec:?}: unknown key {k:?}; keys are type and ref"
        ));
    }
    reference(flag, spec, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let t = parse_cache_to("type=registry,ref=127.0.0.1:5000/c:1,mode=max,compression=zstd")
            .expect("spec");
        assert_eq!(t.reference.to_string(), "127.0.0.1:5000/c:1");
        assert_eq!(t.mode, CacheMode::Max);
        assert_eq!(t.compression, Compression::Zstd);
        assert_eq!(
            parse_cache_to("type=registry,ref=h:1/c")
                .expect("spec")
                .mode,
            CacheMode::Min
        );
        let f = parse_cache_from("127.0.0.1:5000/c:1").expect("bare");
        assert_eq!(f.repository, "c");
        assert!(parse_cache_from("type=registry,ref=h:1/c").is_ok());
    }

    #[test]
    fn refuses_other_types_and_keys() {
        let e = parse_cache_to("type=local,dest=/tmp/x").expect_err("local");
        assert!(e.contains("kiln supports type=registry"), "{e}");
        assert!(parse_cache_to("type=inline").is_err());
        assert!(parse_cache_to("type=registry")
            .expect_err("ref")
            .contains("no ref"));
        assert!(parse_cache_to("type=registry,ref=h:1/c,mode=all").is_err());
        assert!(parse_cache_to("type=registry,ref=h:1/c,oci-mediatypes=true").is_err());
        assert!(parse_cache_to("h:1/c").is_err());
        assert!(parse_cache_from("type=gha").is_err());
    }
}
