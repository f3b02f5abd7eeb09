//! Turning the paths a step changed into a layer blob in the store.

use super::BuildError;
use kiln_layer::{LayerWriter, Root, TarOptions};
use kiln_oci::{LayerRef, Store};

pub(crate) fn store_err(store: &Store, e: impl std::fmt::Display) -> BuildError {
    BuildError::Store {
        root: store.root().display().to_string(),
        message: e.to_string(),
    }
}

/// Write the given container paths (and their parent directories) of `root` as an
/// uncompressed layer blob; timestamps clamped to `epoch` when given.
pub(crate) fn commit(
    store: &Store,
    root: &Root,
    paths: &[String],
    epoch: Option<i64>,
) -> Result<LayerRef, BuildError> {
    let writer = store.blob_writer().map_err(|e| store_err(store, e))?;
    let mut lw = LayerWriter::new(writer, TarOptions { epoch });
    let rel: Vec<String> = paths
        .iter()
        .map(|p| p.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    kiln_layer::write_paths(root, &rel, &mut lw).map_err(|e| store_err(store, e))?;
    let writer = lw.finish().map_err(|e| store_err(store, e))?;
    let (digest, size) = writer.commit(None).map_err(|e| store_err(store, e))?;
    Ok(LayerRef::uncompressed(digest, size))
}
