//! Fetching manifests and indexes (size-capped, digest-verified) and choosing the
//! manifest for a platform from an OCI index or Docker manifest list.

use crate::client::{header, status_error, Client, Req};
use crate::error::{RegistryError, Result};
use crate::Platform;
use kiln_oci::image::MAX_MANIFEST_BYTES;
use kiln_oci::{media, Digest};
use serde::Deserialize;

/// Everything `Accept`ed when asking for a manifest.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as the registry sent it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The exact bytes (their digest is the manifest digest).
    pub bytes: Vec<u8>,
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The media type (from the document, else from `Content-Type`).
    pub media_type: String,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// `GET /v2/REPO/manifests/REF` where REF is a tag or digest.
pub fn get(client: &Client, repo: &str, reference: &str, scope: &str) -> Result<Fetched> {
    let url = client.url(repo, &format!("manifests/{reference}"));
    let mut resp = client.send(&Req::new("GET", url.clone(), scope).header("accept", ACCEPT))?;
    if resp.status().as_u16() != 200 {
        return Err(status_error("GET", &url, &mut resp, &client.host));
    }
    let too_large = || RegistryError::TooLarge {
        what: "the manifest".into(),
        url: url.clone(),
        max: MAX_MANIFEST_BYTES,
    };
    if header(&resp, "content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .is_some_and(|l| l > MAX_MANIFEST_BYTES)
    {
        return Err(too_large());
    }
    let content_type = header(&resp, "content-type").unwrap_or_default();
    let header_digest = header(&resp, "docker-content-digest");
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => too_large(),
            e => RegistryError::Transport {
                url: url.clone(),
                source: Box::new(e),
                hint: "the connection broke while reading the manifest; try again".into(),
            },
        })?;
    let digest = Digest::of_bytes(&bytes);
    let expected = match Digest::parse(reference) {
        Ok(d) => Some(d),
        Err(_) => header_digest.and_then(|h| Digest::parse(h.trim()).ok()),
    };
    if let Some(expected) = expected {
        if expected != digest {
            return Err(RegistryError::DigestMismatch {
                what: "the manifest".into(),
                url,
                expected,
                actual: digest,
            });
        }
    }
    let bad = |reason: String| RegistryError::BadContent {
        what: "the manifest".into(),
        url: url.clone(),
        reason,
    };
    let probe: Probe =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    if probe.schema_version == 1 {
        return Err(bad("Docker schema 1 manifests are not supported; push the image again with a current client".into()));
    }
    let media_type = match probe.media_type {
        Some(m) => m,
        None => {
            let ct = content_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            if media::is_manifest(&ct) || media::is_index(&ct) {
                ct
            } else if probe.manifests.is_some() {
                media::OCI_INDEX.to_owned()
            } else if probe.config.is_some() {
                media::OCI_MANIFEST.to_owned()
            } else {
                ct
            }
        }
    };
    if !media::is_manifest(&media_type) && !media::is_index(&media_type) {
        return Err(bad(format!(
            "unsupported media type {media_type:?}; kiln pulls OCI and Docker schema 2 images"
        )));
    }
    Ok(Fetched {
        bytes,
        digest,
        media_type,
    })
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<EntryPlatform>,
}

#[derive(Deserialize)]
struct EntryPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// The digest of the manifest for `wanted` in an index.
pub fn select(index: &Fetched, wanted: &Platform, reference: &str) -> Result<Digest> {
    let parsed: Index =
        serde_json::from_slice(&index.bytes).map_err(|e| RegistryError::BadContent {
            what: format!("index {}", index.digest),
            url: reference.to_owned(),
            reason: format!("not a valid index: {e}"),
        })?;
    let candidates: Vec<&Entry> = parsed
        .manifests
        .iter()
        .filter(|e| media::is_manifest(&e.media_type) || e.media_type.is_empty())
        .collect();
    let matches = |e: &&&Entry, strict: bool| {
        e.platform.as_ref().is_some_and(|p| {
            p.os == wanted.os
                && p.architecture == wanted.arch
                && match (&wanted.variant, &p.variant) {
                    (Some(w), Some(v)) => w == v,
                    (Some(w), None) => !strict && default_variant(&wanted.arch) == Some(w.as_str()),
                    (None, _) => true,
                }
        })
    };
    let chosen = candidates
        .iter()
        .find(|e| matches(e, true))
        .or_else(|| candidates.iter().find(|e| matches(e, false)));
    match chosen {
        Some(e) => Digest::parse(&e.digest).map_err(|err| RegistryError::BadContent {
            what: format!("index {}", index.digest),
            url: reference.to_owned(),
            reason: format!(
                "bad digest {:?}: {err}",
                e.digest.chars().take(100).collect::<String>()
            ),
        }),
        None => Err(RegistryError::NoPlatform {
            reference: reference.to_owned(),
            wanted: wanted.to_string(),
            available: {
                let list: Vec<String> = candidates
                    .iter()
                    .filter_map(|e| e.platform.as_ref())
                    .map(|p| match &p.variant {
                        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                        None => format!("{}/{}", p.os, p.architecture),
                    })
                    .collect();
                if list.is_empty() {
                    "none".into()
                } else {
                    list.join(", ")
                }
            },
        }),
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(json: &str) -> Fetched {
        Fetched {
            bytes: json.as_bytes().to_vec(),
            digest: Digest::of_bytes(json.as_bytes()),
            media_type: media::OCI_INDEX.into(),
        }
    }

    #[test]
    fn selects_platforms() {
        let d1 = Digest::of_bytes(b"1");
        let d2 = Digest::of_bytes(b"2");
        let d3 = Digest::of_bytes(b"3");
        let i = index(&format!(
            r#"{{"manifests":[
            {{"mediaType":"{m}","digest":"{d1}","platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{m}","digest":"{d2}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"{m}","digest":"{d3}","platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}}]}}"#,
            m = media::OCI_MANIFEST
        ));
        let p = |s: &str| Platform::parse(s).expect("platform");
        assert_eq!(select(&i, &p("linux/amd64"), "r").expect("amd64"), d1);
        assert_eq!(select(&i, &p("linux/arm64"), "r").expect("arm64"), d2);
        assert_eq!(select(&i, &p("linux/arm64/v8"), "r").expect("arm64/v8"), d2);
        let err = select(&i, &p("linux/s390x"), "r")
            .expect_err("none")
            .to_string();
        assert!(
            err.contains("linux/amd64, linux/arm64/v8, linux/arm/v6"),
            "{err}"
        );
        assert!(select(&i, &p("linux/arm/v7"), "r").is_err());
    }
}
