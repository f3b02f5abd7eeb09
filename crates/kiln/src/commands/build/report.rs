//! What `kiln build` says at the end: the image (names, pushes, cache exports, ID on
//! standard output), `--iidfile`, `--metadata-file`, or the failure rendered against the
//! Dockerfile.

use crate::exit::Failure;
use crate::progress::Display;
use kiln_engine::build::{BuildError, Built};
use kiln_oci::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files and output a successful build writes.
pub struct Wanted<'a> {
    pub quiet: bool,
    pub iidfile: Option<&'a PathBuf>,
    pub metadata_file: Option<&'a PathBuf>,
}

/// Reports `built`: a warning for unused build args (through the progress display), the
/// requested files, and the result on standard output.
pub fn built(
    built: &Built,
    wanted: &Wanted,
    display: &Option<Arc<dyn Display>>,
) -> Result<(), Failure> {
    if let (false, Some(d)) = (built.unused_build_args.is_empty(), display) {
        d.message(&format!(
            "warning: build args not used by any ARG: {}",
            built.unused_build_args.join(", ")
        ));
    }
    if let Some(path) = wanted.iidfile {
        std::fs::write(path, built.id.to_string()).map_err(|e| {
            Failure::new(
                ErrorKind::Io,
                format!("error: cannot write --iidfile {}: {e}", path.display()),
            )
        })?;
    }
    if let Some(path) = wanted.metadata_file {
        write_metadata(path, built)?;
    }
    if wanted.quiet {
        return crate::output::stdout(&format!("{}\n", built.id));
    }
    let mut text = String::new();
    for n in &built.names {
        text.push_str(&format!("Tagged {n}\n"));
    }
    for p in &built.pushed {
        text.push_str(&format!("Pushed {}@{}\n", p.reference, p.digest));
    }
    for p in &built.cache_exported {
        text.push_str(&format!("Exported cache {}@{}\n", p.reference, p.digest));
    }
    text.push_str(&format!("{}\n", built.id));
    crate::output::stdout(&text)
}

/// `--metadata-file`: the keys `docker buildx build --metadata-file` writes.
fn write_metadata(path: &Path, built: &Built) -> Result<(), Failure> {
    let mut v = serde_json::json!({
        "containerimage.digest": built.manifest.to_string(),
        "containerimage.config.digest": built.id.to_string(),
        "containerimage.descriptor": {
            "mediaType": kiln_oci::media::OCI_MANIFEST,
            "digest": built.manifest.to_string(),
            "size": built.manifest_size,
        },
    });
    if !built.names.is_empty() {
        v["image.name"] = serde_json::json!(built.names.join(","));
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|e| {
        Failure::new(
            ErrorKind::Io,
            format!(
                "error: cannot write --metadata-file {}: {e}",
                path.display()
            ),
        )
    })
}

/// A failed build as the user sees it: at its Dockerfile line when it has one, with the
/// error's hint; the exit code is the error's kind.
pub fn failure(err: &BuildError, dockerfile: Option<&(String, String)>) -> Failure {
    let hint = err.hint();
    let message = match (err.span(), dockerfile) {
        (Some(span), Some((name, text))) => kiln_dockerfile::error::render(
            "error",
            &err.to_string(),
            span,
            hint.as_deref(),
            name,
            text,
        ),
        _ => {
            let mut m = format!("error: {err}");
            if let Some(h) = hint {
                m.push_str(&format!("\n = hint: {h}"));
            }
            m
        }
    };
    Failure::new(err.kind(), message)
}
