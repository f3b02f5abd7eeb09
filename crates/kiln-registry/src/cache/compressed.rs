//! Which compressed blob a stored layer gave last time it was exported, so exporting a
//! cache again does not compress every layer again. One small file per layer and
//! compression in the store's [`CacheArea::CompressedLayers`]; a missing or stale entry
//! (the blob was pruned) only means compressing again.

use crate::recompress::layer_media_type;
use crate::Compression;
use kiln_oci::store::CacheArea;
use kiln_oci::{Digest, LayerRef, Store};
use serde::{Deserialize, Serialize};

/// Largest entry read (an entry is a digest and a size).
const MAX_ENTRY_BYTES: u64 = 4096;

#[derive(Serialize, Deserialize)]
struct Entry {
    digest: Digest,
    size: u64,
}

/// The entry's file name in the cache area.
fn name(layer: &Digest, c: Compression) -> String {
    let name = match c {
        Compression::None => "tar",
        c => c.name(),
    };
    format!("{}.{name}", layer.hex())
}

/// The compressed form of `layer` made earlier, if its blob is still in the store.
pub(crate) fn lookup(store: &Store, layer: &LayerRef, c: Compression) -> Option<LayerRef> {
    let bytes = store.read_cache_file(
        CacheArea::CompressedLayers,
        &name(&layer.digest, c),
        MAX_ENTRY_BYTES,
    )?;
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
    let entry = Entry {
        digest: sent.digest,
        size: sent.size,
    };
    let Ok(bytes) = serde_json::to_vec(&entry) else {
        return;
    };
    let _ = store.write_cache_file(CacheArea::CompressedLayers, &name(&layer.digest, c), &bytes);
}
