//! Image operations other than building: import a root filesystem tarball, export an
//! image's root filesystem.

use crate::build::{export_rootfs, BuildError, Rootfs};
use crate::config::{History, ImageConfig};
use kiln_layer::{ExtractOptions, LayerWriter, TarOptions, WhiteoutMode};
use kiln_oci::Platform;
use kiln_oci::{LayerRef, Reference, Store, StoredImage};
use std::io::Read;
use std::path::Path;

fn err(store: &Store, e: impl Into<crate::build::error::Source>) -> BuildError {
    BuildError::Store {
        root: store.root().display().to_string(),
        what: String::new(),
        source: e.into(),
    }
}

/// `kiln import`: unpack a root filesystem tarball (plain or compressed) safely into scratch
/// space, write it back as one deterministic layer, and store it as image `name`.
pub fn import(
    store: &Store,
    tarball: impl Read + 'static,
    name: &str,
    epoch: Option<i64>,
) -> Result<StoredImage, BuildError> {
    let reference = Reference::parse_normalized(name).map_err(|e| BuildError::Rejected {
        message: format!("invalid image name {name:?}: {e}"),
        hint: "name the image NAME[:TAG], e.g. base:1 or registry.example/team/base:1".into(),
    })?;
    let scratch = store.temp_dir().map_err(|e| err(store, e))?;
    let fs = Rootfs::new(scratch.path())?;
    let (_, reader) =
        kiln_oci::compression::decompress(tarball).map_err(|e| BuildError::Output {
            message: format!("cannot read the tarball: {e}"),
        })?;
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Keep,
        same_owner: true,
        devices: true,
        record_paths: false,
    };
    kiln_layer::extract(reader, &fs.root, &opts).map_err(|e| match e {
        // Writing into the store's scratch space failed: the store's problem.
        kiln_layer::ExtractError::Write { .. } | kiln_layer::ExtractError::Fs { .. } => {
            err(store, format!("cannot unpack the tarball: {e}"))
        }
        // The tarball itself is refused.
        e => BuildError::Rejected {
            message: format!("cannot unpack the tarball: {e}"),
            hint: "nothing was imported; give a tar (plain, gzip, zstd, xz or bzip2) of a root filesystem whose entries all stay inside it".into(),
        },
    })?;
    let writer = store.blob_writer().map_err(|e| err(store, e))?;
    let mut lw = LayerWriter::new(writer, TarOptions { epoch });
    kiln_layer::write_tree(&fs.root, &mut lw).map_err(|e| err(store, e))?;
    let (digest, size) = lw
        .finish()
        .map_err(|e| err(store, e))?
        .commit(None)
        .map_err(|e| err(store, e))?;
    let layer = LayerRef::uncompressed(digest, size);
    let host = Platform::host();
    let now = epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let created = kiln_oci::time::rfc3339(now.max(0) as u64);
    let mut config = ImageConfig {
        created: Some(created.clone()),
        architecture: host.arch,
        os: host.os,
        ..ImageConfig::default()
    };
    config.rootfs.diff_ids = vec![digest.to_string()];
    config.history.push(History {
        created: Some(created),
        created_by: Some("kiln import".into()),
        comment: Some("kiln".into()),
        ..History::default()
    });
    let image = store
        .put_image_json(&config, &[layer])
        .map_err(|e| err(store, e))?;
    store
        .tag(&reference, &image.manifest_digest)
        .map_err(|e| err(store, e))?;
    store
        .lookup(&image.manifest_digest.to_string())
        .map_err(|e| err(store, e))
}

/// `kiln export`: the image's root filesystem into a directory, or into a tarball when
/// `dest` ends in `.tar`.
pub fn export(store: &Store, name: &str, dest: &Path) -> Result<(), BuildError> {
    let stored = store.lookup(name).map_err(|e| err(store, e))?;
    let image = store
        .load_image(&stored.manifest)
        .map_err(|e| err(store, e))?;
    let layers = image.layers().map_err(|e| err(store, e))?;
    if dest.extension().is_some_and(|e| e == "tar") {
        let scratch = store.temp_dir().map_err(|e| err(store, e))?;
        let fs = Rootfs::new(scratch.path())?;
        fs.unpack(store, &layers)?;
        let out = |e: crate::build::error::Source| BuildError::Write {
            path: dest.to_owned(),
            source: e,
        };
        let file = std::fs::File::create(dest).map_err(|e| out(e.into()))?;
        // Zero blocks (a sparse file's content) stay holes in the tarball too.
        let sparse = std::io::BufWriter::new(kiln_oci::SparseFile::new(file));
        let mut lw = LayerWriter::new(sparse, TarOptions { epoch: None });
        kiln_layer::write_tree(&fs.root, &mut lw).map_err(|e| out(e.into()))?;
        let sparse = lw.finish().map_err(|e| out(e.into()))?;
        sparse
            .into_inner()
            .map_err(|e| out(e.into_error().into()))?
            .finish()
            .map_err(|e| out(e.into()))?;
        return Ok(());
    }
    export_rootfs(store, &layers, dest)
}
