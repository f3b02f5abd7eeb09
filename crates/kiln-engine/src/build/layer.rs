//! Turning the paths a step changed into a layer blob in the store, within
//! `--max-layer-size`.

use super::error::BuildError;
use kiln_dockerfile::Span;
use kiln_layer::{LayerWriter, Root, TarOptions};
use kiln_oci::{BlobWriter, LayerRef, Store};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `--max-layer-size` when none is given: 20 GiB of uncompressed tar per step. Far above
/// real layers (toolchains and CUDA/ML layers are a few GiB; registries such as Docker Hub
/// and ECR warn or fail well before tens of GiB), so no honest build meets it, and low
/// enough that a runaway or hostile step stops long before it fills a CI runner's disk.
/// Sparse files count with their logical size (the tar holds their zeros), though they
/// cost almost nothing in the store.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 20 << 30;

/// A failure of the store at `store` (kind I/O), keeping its source.
pub(crate) fn store_err(store: &Store, e: impl Into<super::error::Source>) -> BuildError {
    BuildError::Store {
        root: store.root().display().to_string(),
        what: String::new(),
        source: e.into(),
    }
}

/// A step's layer blob being written. A write that would take it past the limit fails
/// (nothing of it is written) and records the size reached in the step's [`Tripwire`]:
/// the caller drops the writer, which removes the partial blob, so the store stays as it
/// was.
#[derive(Debug)]
pub(crate) struct StepBlob {
    blob: BlobWriter,
    limit: Option<u64>,
    tripwire: Tripwire,
}

impl Write for StepBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = self.limit {
            let reached = self.blob.written() + buf.len() as u64;
            if reached > limit {
                self.tripwire.0.store(reached, Ordering::Relaxed);
                return Err(io::Error::other(format!(
                    "the layer would pass the --max-layer-size limit of {limit} bytes"
                )));
            }
        }
        self.blob.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.blob.flush()
    }
}

/// Tells whether a step's layer was stopped at `--max-layer-size` (the size it would have
/// reached; 0: not stopped), however the writer's error was wrapped on its way up.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tripwire(Arc<AtomicU64>);

impl Tripwire {
    /// True if the layer was stopped at the limit.
    pub fn tripped(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// `error` as the step's failure: the limit, when the layer reached it, else
    /// `what: error`.
    pub fn error(
        &self,
        cx: &super::state::BuildState<'_>,
        span: Span,
        what: &str,
        error: &dyn std::fmt::Display,
    ) -> BuildError {
        let reached = self.0.load(Ordering::Relaxed);
        match cx.spec.max_layer_size {
            Some(limit) if reached > 0 => over_limit(span, what, limit, reached),
            _ => BuildError::step_io(
                span,
                format!("{what}: cannot write the layer"),
                error.to_string(),
            ),
        }
    }
}

fn over_limit(span: Span, what: &str, limit: u64, reached: u64) -> BuildError {
    let shown = match unit(limit) {
        Some((n, u)) => format!("{n} {u}iB ({limit} bytes)"),
        None => format!("{limit} bytes"),
    };
    let twice = match unit(limit.saturating_mul(2)) {
        Some((n, u)) => format!("{n}{}", u.to_ascii_lowercase()),
        None => limit.saturating_mul(2).to_string(),
    };
    BuildError::step(
        span,
        format!(
            "{what}: the step's layer reached at least {reached} bytes (uncompressed), over the --max-layer-size limit of {shown}; the step was stopped and its partial layer removed"
        ),
    )
    .with_hint(format!(
        "make the step write less (remove caches and temporary files in the same RUN), or raise the limit, e.g. --max-layer-size {twice} (0: no limit)"
    ))
}

/// `n` in whole GiB (`G`), MiB (`M`) or KiB (`K`), if it is one.
fn unit(n: u64) -> Option<(u64, char)> {
    [(30, 'G'), (20, 'M'), (10, 'K')]
        .into_iter()
        .find(|(shift, _)| n >= 1 << shift && n % (1 << shift) == 0)
        .map(|(shift, u)| (n >> shift, u))
}

/// A new layer for a step, and its tripwire.
pub(crate) fn new_layer(
    cx: &super::state::BuildState<'_>,
) -> Result<(LayerWriter<StepBlob>, Tripwire), BuildError> {
    let blob = cx
        .services
        .store
        .blob_writer()
        .map_err(|e| store_err(cx.services.store, e))?;
    let tripwire = Tripwire::default();
    let w = StepBlob {
        blob,
        limit: cx.spec.max_layer_size,
        tripwire: tripwire.clone(),
    };
    Ok((
        LayerWriter::new(
            w,
            TarOptions {
                epoch: cx.spec.epoch,
            },
        ),
        tripwire,
    ))
}

/// Ends the tar and installs the blob.
pub(crate) fn finish(
    cx: &super::state::BuildState<'_>,
    span: Span,
    what: &str,
    lw: LayerWriter<StepBlob>,
    tripwire: &Tripwire,
) -> Result<LayerRef, BuildError> {
    let w = lw
        .finish()
        .map_err(|e| tripwire.error(cx, span, what, &e))?;
    install(cx.services.store, w)
}

/// Installs a finished step blob.
pub(crate) fn install(store: &Store, w: StepBlob) -> Result<LayerRef, BuildError> {
    let (digest, size) = w.blob.commit(None).map_err(|e| store_err(store, e))?;
    Ok(LayerRef::uncompressed(digest, size))
}

/// Write the given container paths (and their parent directories) of `root` as an
/// uncompressed layer blob; timestamps clamped to the build's epoch when given.
pub(crate) fn commit(
    cx: &super::state::BuildState<'_>,
    span: Span,
    what: &str,
    root: &Root,
    paths: &[String],
) -> Result<LayerRef, BuildError> {
    let (mut lw, tripwire) = new_layer(cx)?;
    let rel: Vec<String> = paths
        .iter()
        .map(|p| p.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    kiln_layer::write_paths(root, &rel, &mut lw).map_err(|e| tripwire.error(cx, span, what, &e))?;
    finish(cx, span, what, lw, &tripwire)
}

/// A failure of the store at `store` while doing `what`.
pub(crate) fn store_io(
    store: &Store,
    what: &str,
    e: impl Into<super::error::Source>,
) -> BuildError {
    BuildError::Store {
        root: store.root().display().to_string(),
        what: what.to_string(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_in_whole_units() {
        assert_eq!(unit(DEFAULT_MAX_LAYER_SIZE), Some((20, 'G')));
        assert_eq!(unit(3 << 20), Some((3, 'M')));
        assert_eq!(unit(1536), None);
        let e = over_limit(Span::default(), "RUN", 1 << 20, 1_049_088);
        assert!(
            e.to_string().contains("limit of 1 MiB (1048576 bytes)"),
            "{e}"
        );
        assert!(e.hint().unwrap_or_default().contains("--max-layer-size 2m"));
    }
}
