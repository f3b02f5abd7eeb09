//! Which compressed blob a stored layer gave last time it was exported, so exporting a
//! cache again does not compress every layer again. One small file per layer and
//! compression under `<root>/cache/compressed/`; a missing or stale entry (the blob was
//! pruned) only means compressing again.

use crate::recompress::layer_media_type;
use crate::Compression;
use kiln_oci::{Digest, LayerRef, Store};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

#[derive(Serialize, Deserialize)]
struct Entry {
    digest: Digest,
    size: u64,
}

fn path(store: &Store, layer: &Digest, c: Compression) -> PathBuf {
    let name = match c {
        Compression::None => "tar",
        c => c.name(),
    };
    store
        .cache_dir()
        .join("compressed")
        .join(format!("{}.{name}", layer.hex()))
}

/// The compressed form of `layer` made earlier, if its blob is still in the store.
pub(crate) fn lookup(store: &Store, layer: &LayerRef, c: Compression) -> Option<LayerRef> {
    let bytes = std::fs::read(path(store, &layer.digest, c)).ok()?;
    let e: Entry = serde_json::from_slice(&bytes).ok()?;
    if store.blob_size(&e.digest).ok()? != e.size {
        return None;
    }
    Some(LayerRef {
        digest: e.digest,
        size: e.size,
        media_type: layer_media_type(c, true, &layer.digest).ok()?.to_owned(),
        diff_id: layer.diff_id,
    })
}

/// Remember that `layer` compressed with `c` is `sent` (best effort).
pub(crate) fn remember(store: &Store, layer: &LayerRef, c: Compression, sent: &LayerRef) {
    let p = path(store, &layer.digest, c);
    let Some(dir) = p.parent() else { return };
    let entry = Entry {
        digest: sent.digest,
        size: sent.size,
    };
    let Ok(bytes) = serde_json::to_vec(&entry) else {
        return;
    };
    let _ = std::fs::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir))
        .and_then(|mut t| {
            t.write_all(&bytes)?;
            t.persist(&p).map(|_| ()).map_err(|e| e.error)
        });
}
