//! The scratch tree: unpacking layers into it and writing the new layer from it.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use kiln_layer::{EntryKind, EntryMeta, ExtractOptions, LayerWriter, Root, TarOptions};
use kiln_oci::{Compression, LayerRef, Store};

use super::error::{store_err, SquashError};
use super::sizes::{Counted, GzCount};

/// The image's root directory: 0755, as images have it.
pub(super) fn make_root_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
}

/// Every path of `root` (relative), sorted.
pub(super) fn list_paths(store: &Store, root: &Root) -> Result<Vec<PathBuf>, SquashError> {
    let mut paths: Vec<PathBuf> = root
        .walk("/")
        .map_err(|e| store_err(store, "cannot list the scratch tree", e))?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p != Path::new("/"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Extract one layer into `root`: its compressed and uncompressed sizes, and (if
/// `record`) the paths it wrote.
pub(super) fn extract_layer(
    store: &Store,
    layer: &LayerRef,
    root: &Root,
    record: bool,
) -> Result<(u64, u64, Vec<String>), SquashError> {
    let blob = store
        .blob_reader(&layer.digest)
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let mut head = [0u8; 8];
    let head_len = store
        .open_blob(&layer.digest)
        .map_err(|e| store_err(store, "cannot read a layer", e))?
        .read(&mut head)
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let plain = Compression::detect(&head[..head_len]) == Compression::None;
    let (_, reader) =
        kiln_oci::compression::decompress(blob).map_err(|source| SquashError::Decompress {
            digest: layer.digest,
            source: Box::new(source),
        })?;
    let mut counted = Counted::new(reader, plain);
    let opts = ExtractOptions {
        record_paths: record,
        ..ExtractOptions::default()
    };
    let stats =
        kiln_layer::extract(&mut counted, root, &opts).map_err(|source| SquashError::Extract {
            digest: layer.digest,
            source: Box::new(source),
        })?;
    // What follows the tar's end still counts as the layer's bytes.
    io::copy(&mut counted, &mut io::sink())
        .map_err(|e| store_err(store, "cannot read a layer", e))?;
    let (uncompressed, gz) = counted.finish();
    let compressed = if plain { gz } else { layer.size };
    Ok((compressed, uncompressed, stats.paths))
}

/// Write the new layer into the store: the paths the squashed layers wrote that still
/// exist, then a whiteout for each topmost kept path that is gone. Gives the layer and its
/// gzip size.
pub(super) fn write_layer(
    store: &Store,
    root: &Root,
    written: Option<&[String]>,
    kept: &[PathBuf],
    epoch: Option<i64>,
) -> Result<(LayerRef, u64), SquashError> {
    let lstat = |p: &Path| {
        root.lstat(p)
            .map_err(|e| store_err(store, "cannot read the scratch tree", e))
    };
    let blob = store
        .blob_writer()
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    let mut lw = LayerWriter::new(GzCount::new(blob), TarOptions { epoch });
    let write_err = |source| SquashError::Write {
        source: Box::new(source),
    };
    match written {
        // Nothing kept: the whole tree.
        None => kiln_layer::write_tree(root, &mut lw).map_err(write_err)?,
        Some(written) => {
            let mut present = BTreeSet::new();
            for p in written {
                if lstat(&Path::new("/").join(p))?.is_some() {
                    present.insert(p.clone());
                } else if p.contains(char::REPLACEMENT_CHARACTER) {
                    // The extractor lists paths as UTF-8; a name that is not cannot be
                    // found again, and dropping it would lose a file.
                    return Err(SquashError::NotUtf8 { path: p.clone() });
                }
            }
            let present: Vec<String> = present.into_iter().collect();
            kiln_layer::write_paths(root, &present, &mut lw).map_err(write_err)?;
        }
    }
    let none = EntryMeta::default();
    for p in kept {
        let parent_is_dir = match p.parent() {
            Some(parent) => lstat(parent)?.is_some_and(|m| m.is_dir()),
            None => false,
        };
        if parent_is_dir && lstat(p)?.is_none() {
            let rel = p.strip_prefix("/").unwrap_or(p);
            lw.add_entry_path(rel, &none, EntryKind::Whiteout, None)
                .map_err(|source| SquashError::Write {
                    source: Box::new(source),
                })?;
        }
    }
    let out = lw.finish().map_err(|source| SquashError::Write {
        source: Box::new(source),
    })?;
    let (blob, gz) = out
        .finish()
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    let (digest, size) = blob
        .commit(None)
        .map_err(|e| store_err(store, "cannot write a blob", e))?;
    Ok((LayerRef::uncompressed(digest, size), gz))
}
