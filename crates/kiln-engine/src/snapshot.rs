//! Unpacking layer blobs for the snapshotters: each layer once, content addressed by
//! diff-id, ready to be an overlay lower directory.
//!
//! The store owns the unpacked-layer directories and their crash and concurrency
//! promises ([`Store::stage_layer`], [`StagedLayer::install`](kiln_oci::store::StagedLayer::install)):
//! this module only fills a staged directory with the layer, extracted with
//! [`WhiteoutMode::Overlay`] (OCI whiteouts as 0:0 character devices, opaque markers as
//! `trusted.overlay.opaque=y`), and checks its diff-id before it is installed.

use std::io;
use std::path::PathBuf;

use kiln_layer::{ExtractOptions, Root, WhiteoutMode};
use kiln_oci::{Digest, DigestReader, ErrorKind, LayerRef, Store};

/// Errors of [`unpack_layer`]; each names the layer and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A store operation failed.
    #[error("layer {layer}: {source}")]
    Store {
        /// Layer blob digest.
        layer: Digest,
        /// Cause.
        #[source]
        source: Box<kiln_oci::StoreError>,
    },
    /// Reading the layer blob failed.
    #[error("layer {layer}: cannot read {path}: {source}; check permissions and free space of the store", path = .path.display())]
    Io {
        /// Layer blob digest.
        layer: Digest,
        /// Path involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Opening the staging directory failed.
    #[error("layer {layer}: {source}")]
    Root {
        /// Layer blob digest.
        layer: Digest,
        /// Cause.
        #[source]
        source: Box<kiln_layer::RootError>,
    },
    /// Decompressing the blob failed.
    #[error("layer {layer}: {source}; the blob is damaged: pull the image again")]
    Decompress {
        /// Layer blob digest.
        layer: Digest,
        /// Cause.
        #[source]
        source: kiln_oci::CompressionError,
    },
    /// Extracting the layer failed.
    #[error("layer {layer}: unpacking into {path}: {source}", path = .path.display())]
    Extract {
        /// Layer blob digest.
        layer: Digest,
        /// Directory being filled.
        path: PathBuf,
        /// Cause.
        #[source]
        source: Box<kiln_layer::ExtractError>,
    },
    /// The uncompressed content does not hash to the diff-id.
    #[error("layer {layer}: uncompressed content has digest {got}, but the image says diff-id {want}; the blob or the image config is damaged: pull the image again")]
    DiffId {
        /// Layer blob digest.
        layer: Digest,
        /// Expected diff-id.
        want: Digest,
        /// Actual digest.
        got: Digest,
    },
}

impl SnapshotError {
    /// The class of this failure, for the exit code: the store's and the layer code's own
    /// classes (a corrupt or hostile layer is rejected input, a failing disk is I/O); a
    /// diff-id mismatch is a damaged image, [`ErrorKind::Rejected`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::Store { source, .. } => source.kind(),
            SnapshotError::Io { .. } => ErrorKind::Io,
            SnapshotError::Root { source, .. } => source.kind(),
            SnapshotError::Decompress { source, .. } => source.kind(),
            SnapshotError::Extract { source, .. } => source.kind(),
            SnapshotError::DiffId { .. } => ErrorKind::Rejected,
        }
    }
}

type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// Unpack `layer` once into the store (overlay form; see the module docs) and return its
/// lower directory. Verifies the diff-id. Needs root (device nodes, trusted xattrs).
pub fn unpack_layer(store: &Store, layer: &LayerRef) -> Result<PathBuf> {
    let store_err = |source| SnapshotError::Store {
        layer: layer.digest,
        source: Box::new(source),
    };
    // Marks it used, so a concurrent prune keeps it while this build runs.
    if let Some(root) = store.unpacked_layer(&layer.diff_id).map_err(store_err)? {
        return Ok(root);
    }
    let staged = store.stage_layer(&layer.diff_id).map_err(store_err)?;
    let blob = store.blob_reader(&layer.digest).map_err(store_err)?;
    let (_, reader) =
        kiln_oci::compression::decompress(blob).map_err(|source| SnapshotError::Decompress {
            layer: layer.digest,
            source,
        })?;
    let mut reader = DigestReader::new(reader);
    let root = Root::open(staged.root()).map_err(|source| SnapshotError::Root {
        layer: layer.digest,
        source: Box::new(source),
    })?;
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..ExtractOptions::default()
    };
    kiln_layer::extract(&mut reader, &root, &opts).map_err(|source| SnapshotError::Extract {
        layer: layer.digest,
        path: staged.root().to_owned(),
        source: Box::new(source),
    })?;
    // Trailing padding after the end-of-archive marker counts for the diff-id.
    io::copy(&mut reader, &mut io::sink()).map_err(|source| SnapshotError::Io {
        layer: layer.digest,
        path: store.blob_path(&layer.digest),
        source,
    })?;
    let (_, got, _) = reader.finish();
    if got != layer.diff_id {
        return Err(SnapshotError::DiffId {
            layer: layer.digest,
            want: layer.diff_id,
            got,
        });
    }
    staged.install().map_err(store_err)
}

/// [`unpack_layer`] for each of `layers` (bottom first); the lower
/// directories in the same order, for
/// [`OverlaySnapshot::mount`](kiln_layer::snapshot::OverlaySnapshot::mount)
/// or [`VfsSnapshot::prepare`](kiln_layer::snapshot::VfsSnapshot::prepare).
pub fn unpack_layers(store: &Store, layers: &[LayerRef]) -> Result<Vec<PathBuf>> {
    layers.iter().map(|l| unpack_layer(store, l)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kiln_layer::{EntryKind, EntryMeta, Kind, LayerWriter, TarOptions};
    use std::fs;

    fn layer_tar() -> Vec<u8> {
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        let m = EntryMeta {
            mode: 0o755,
            mtime: 1,
            ..EntryMeta::default()
        };
        w.add_entry("d", &m, EntryKind::Dir, None).unwrap();
        w.add_entry("d", &m, EntryKind::Opaque, None).unwrap();
        let mut c: &[u8] = b"hi";
        w.add_entry("d/f", &m, EntryKind::File { size: 2 }, Some(&mut c))
            .unwrap();
        w.add_entry("gone", &m, EntryKind::Whiteout, None).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn unpack_once_in_overlay_form() {
        if !kiln_layer::extract::is_root() {
            eprintln!("SKIPPED (not root): unpack_layer");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let tar = layer_tar();
        let (digest, size) = store.put_blob(&tar).unwrap();
        let layer = LayerRef::uncompressed(digest, size);
        // Concurrent callers: all succeed, one directory.
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| unpack_layer(&store, &layer).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(paths.iter().all(|p| *p == paths[0]));
        assert_eq!(paths[0], store.unpacked_layer_root(&layer.diff_id));
        assert!(store.has_unpacked_layer(&layer.diff_id));
        let r = Root::open(&paths[0]).unwrap();
        let g = r.lstat("gone").unwrap().unwrap();
        assert_eq!((g.kind, g.rdev), (Kind::Char, 0));
        assert_eq!(
            r.get_xattrs("d").unwrap().get("trusted.overlay.opaque"),
            Some(&b"y".to_vec())
        );
        assert_eq!(fs::read(paths[0].join("d/f")).unwrap(), b"hi");
        // Second call: no work.
        let before = fs::metadata(&paths[0]).unwrap().modified().unwrap();
        unpack_layer(&store, &layer).unwrap();
        assert_eq!(fs::metadata(&paths[0]).unwrap().modified().unwrap(), before);
        // No leftovers in the store's tmp: only this process's (empty) lease dir.
        for lease in fs::read_dir(tmp.path().join("tmp")).unwrap() {
            assert_eq!(fs::read_dir(lease.unwrap().path()).unwrap().count(), 0);
        }
    }

    /// Store blobs → unpacked lowers → overlay step and vfs step → the
    /// same layer blob.
    #[test]
    fn store_to_layer_through_both_snapshotters() {
        use kiln_layer::snapshot::VfsSnapshot;
        use kiln_layer::snapshot::{diff_overlay_upper, overlay_supported, OverlaySnapshot};
        use std::io::Write;
        if !kiln_layer::extract::is_root() {
            eprintln!("SKIPPED (not root): snapshot pipeline");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let probe = store.temp_dir().unwrap();
        if !overlay_supported(probe.path()) {
            eprintln!("SKIPPED (no overlayfs): snapshot pipeline");
            return;
        }
        // Layer 1 gzip-compressed, layer 2 (whiteout + opaque) plain.
        let plain1 = {
            let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
            let m = EntryMeta {
                mode: 0o755,
                mtime: 5,
                ..EntryMeta::default()
            };
            w.add_entry("etc", &m, EntryKind::Dir, None).unwrap();
            for (p, c) in [("etc/a", "a"), ("etc/b", "b")] {
                let mut r = c.as_bytes();
                w.add_entry(p, &m, EntryKind::File { size: 1 }, Some(&mut r))
                    .unwrap();
            }
            w.finish().unwrap()
        };
        let mut gz = kiln_oci::compression::gzip_writer(Vec::new(), 6);
        gz.write_all(&plain1).unwrap();
        let (d1, s1) = store.put_blob(&gz.finish().unwrap()).unwrap();
        let l1 = LayerRef {
            digest: d1,
            size: s1,
            media_type: kiln_oci::media::OCI_LAYER_TAR_GZIP.into(),
            diff_id: Digest::of_bytes(&plain1),
        };
        let (d2, s2) = store.put_blob(&layer_tar()).unwrap();
        let l2 = LayerRef::uncompressed(d2, s2);
        let lowers = unpack_layers(&store, &[l1, l2]).unwrap();

        let step = |root: &Root| {
            let mut f = root.create_file("etc/c", 0o644).unwrap();
            f.write_all(b"c").unwrap();
            root.remove_all("etc/a").unwrap();
            root.set_times("etc/c", (9, 0)).unwrap();
            root.set_times("etc", (9, 0)).unwrap();
        };

        let work = store.temp_dir().unwrap();
        let dirs: Vec<PathBuf> = ["upper", "work", "merged", "before"]
            .iter()
            .map(|d| {
                let p = work.path().join(d);
                fs::create_dir(&p).unwrap();
                p
            })
            .collect();
        let before = OverlaySnapshot::mount_readonly(&lowers, &dirs[3]).unwrap();
        let ov = OverlaySnapshot::mount(&lowers, &dirs[0], &dirs[1], &dirs[2]).unwrap();
        step(&Root::open(&dirs[2]).unwrap());
        ov.unmount().unwrap();
        let mut w = LayerWriter::new(store.blob_writer().unwrap(), TarOptions::default());
        diff_overlay_upper(
            &Root::open(&dirs[0]).unwrap(),
            &Root::open(&dirs[3]).unwrap(),
            &mut w,
        )
        .unwrap();
        let (overlay_digest, _) = w.finish().unwrap().commit(None).unwrap();
        before.unmount().unwrap();

        let vdir = store.temp_dir().unwrap();
        let vfs = VfsSnapshot::prepare(&lowers, vdir.path()).unwrap();
        step(vfs.rootfs());
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        vfs.diff(&mut w).unwrap();
        let vfs_tar = w.finish().unwrap();
        assert_eq!(Digest::of_bytes(&vfs_tar), overlay_digest);
        let text = String::from_utf8_lossy(&vfs_tar);
        assert!(text.contains("etc/.wh.a") && text.contains("etc/c"));
        assert!(!text.contains("etc/b"));
    }

    #[test]
    fn wrong_diff_id_is_refused() {
        if !kiln_layer::extract::is_root() {
            eprintln!("SKIPPED (not root): unpack_layer");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let (digest, size) = store.put_blob(&layer_tar()).unwrap();
        let mut layer = LayerRef::uncompressed(digest, size);
        layer.diff_id = Digest::of_bytes(b"other");
        let e = unpack_layer(&store, &layer).unwrap_err();
        assert!(matches!(e, SnapshotError::DiffId { .. }), "{e}");
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert!(!store.has_unpacked_layer(&layer.diff_id));
        assert!(!store.layer_dir(&layer.diff_id).exists());
    }
}
